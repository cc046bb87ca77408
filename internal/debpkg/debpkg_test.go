package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/ops"
)

// dpkgDeb returns the path of dpkg-deb; it skips the test without it, or
// fails when PIER_REQUIRE names it.
func dpkgDeb(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("dpkg-deb")
	if err == nil {
		return p
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == "dpkg-deb" {
			t.Fatalf("dpkg-deb is required (PIER_REQUIRE) but not found: %v", err)
		}
	}
	t.Skipf("dpkg-deb not found (Debian's dpkg package): %v", err)
	return ""
}

// TestPackageCarriesTheServiceFiles builds a real pier, packages it, and
// reads the package back with dpkg-deb: its control data, its conffile,
// its scripts, and, unpacked into a temp root, the very binary, the unit
// for /usr/bin/pier and a 0600 env file.
func TestPackageCarriesTheServiceFiles(t *testing.T) {
	dd := dpkgDeb(t)
	if testing.Short() {
		t.Skip("builds pier: skipped with -short")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "pier")
	gobuild := exec.Command("go", "build", "-ldflags", "-X github.com/pierhq/pier/cli.version=v1.4.0-rc2", "-o", bin, "../../cmd/pier")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("building pier: %v\n%s", err, out)
	}
	deb, err := build(context.Background(), bin, filepath.Join(dir, "dist"), "amd64")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(deb) != "pier_1.4.0~rc2_amd64.deb" {
		t.Errorf("the package is %s", filepath.Base(deb))
	}
	field := func(name string) string {
		out, err := exec.Command(dd, "-f", deb, name).Output()
		if err != nil {
			t.Fatalf("dpkg-deb -f %s: %v", name, err)
		}
		return strings.TrimSpace(string(out))
	}
	for name, want := range map[string]string{"Package": "pier", "Version": "1.4.0~rc2", "Architecture": "amd64", "Depends": "git"} {
		if got := field(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	control := filepath.Join(dir, "control")
	if out, err := exec.Command(dd, "-e", deb, control).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -e: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(control, "conffiles")); strings.TrimSpace(string(b)) != "/etc/pier/pier.env" {
		t.Errorf("conffiles: %q", b)
	}
	for _, s := range []string{"preinst", "postinst", "prerm", "postrm"} {
		p := filepath.Join(control, s)
		if out, err := exec.Command("sh", "-n", p).CombinedOutput(); err != nil {
			t.Errorf("%s: %v\n%s", s, err, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(control, "postinst")); !strings.Contains(string(b), "/usr/bin/pier upgrade --binary /usr/bin/pier --previous /var/lib/pier/pier.previous") {
		t.Errorf("postinst does not hand a running agent over with pier upgrade:\n%s", b)
	}

	root := filepath.Join(dir, "root")
	if out, err := exec.Command(dd, "-x", deb, root).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb -x: %v\n%s", err, out)
	}
	want, _ := os.ReadFile(bin)
	if got, _ := os.ReadFile(filepath.Join(root, "usr/bin/pier")); !bytes.Equal(got, want) {
		t.Errorf("/usr/bin/pier is not the packaged binary")
	}
	unit, _ := os.ReadFile(filepath.Join(root, "lib/systemd/system/pier.service"))
	wantUnit, _ := ops.Unit{Binary: "/usr/bin/pier", EnvFile: "/etc/pier/pier.env", DataDir: "/var/lib/pier"}.Render()
	if string(unit) != wantUnit {
		t.Errorf("the unit is not ops' unit for /usr/bin/pier:\n%s", unit)
	}
	for path, mode := range map[string]os.FileMode{"usr/bin/pier": 0o755, "etc/pier/pier.env": 0o600, "lib/systemd/system/pier.service": 0o644} {
		if fi, err := os.Stat(filepath.Join(root, path)); err != nil || fi.Mode() != mode {
			t.Errorf("/%s: %v, mode %v, want %v", path, err, fi.Mode(), mode)
		}
	}
	if env, _ := os.ReadFile(filepath.Join(root, "etc/pier/pier.env")); !strings.Contains(string(env), "#PIER_DATA_DIR=/var/lib/pier\n") {
		t.Errorf("pier.env:\n%s", env)
	}
}

// TestPackageRefusesANonPierBinary: a binary that does not say pier's
// version is not packaged.
func TestPackageRefusesANonPierBinary(t *testing.T) {
	_, err := build(context.Background(), "/bin/true", t.TempDir(), "amd64")
	if err == nil || !strings.Contains(err.Error(), "is it pier?") {
		t.Errorf("packaging /bin/true: %v", err)
	}
}

func TestDebVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3": "1.2.3", "1.2.3": "1.2.3", "v1.3.0-rc1": "1.3.0~rc1", "dev": "0.0.0~dev",
		"e74fe48-dirty": "0.0.0~e74fe48~dirty", "v1.2.3-4-gabc": "1.2.3~4.gabc", "9bd6214-dirty": "0.0.0~9bd6214~dirty",
	} {
		if got := debVersion(in); got != want {
			t.Errorf("debVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
