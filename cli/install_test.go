package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/ops"
)

// runInstallIn runs `pier install --root root` with extra flags.
func runInstallIn(t *testing.T, root string, extra ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), append([]string{"pier", "install", "--root", root}, extra...), &out, &errb)
	return out.String(), errb.String(), err
}

// TestInstallLaysOutTheService: into a temp root, pier install writes this
// binary, a 0700 data dir, a 0600 env file with every agent flag and the
// unit; run again, it keeps the operator's edits and the data.
func TestInstallLaysOutTheService(t *testing.T) {
	root := t.TempDir()
	out, _, err := runInstallIn(t, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"created  /var/lib/pier\nwrote    /usr/local/bin/pier", "wrote    /etc/pier/pier.env", "wrote    /etc/systemd/system/pier.service"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	self, _ := os.Executable()
	want, _ := os.ReadFile(self)
	bin := filepath.Join(root, "usr/local/bin/pier")
	if got, _ := os.ReadFile(bin); !bytes.Equal(got, want) {
		t.Errorf("%s is not a copy of the running binary (%d bytes, want %d)", bin, len(got), len(want))
	}
	for path, mode := range map[string]os.FileMode{
		"usr/local/bin/pier": 0o755, "var/lib/pier": 0o700 | os.ModeDir,
		"etc/pier/pier.env": 0o600, "etc/systemd/system/pier.service": 0o644,
	} {
		if fi, err := os.Stat(filepath.Join(root, path)); err != nil || fi.Mode() != mode {
			t.Errorf("/%s: %v, mode %v, want %v", path, err, fi.Mode(), mode)
		}
	}
	unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/pier.service"))
	wantUnit, _ := ops.Unit{Binary: "/usr/local/bin/pier", EnvFile: "/etc/pier/pier.env", DataDir: "/var/lib/pier"}.Render()
	if string(unit) != wantUnit {
		t.Errorf("the unit is not ops' unit for the default paths:\n%s", unit)
	}
	env, _ := os.ReadFile(filepath.Join(root, "etc/pier/pier.env"))
	for _, f := range agentCommand().Flags {
		name := envName(f.Names()[0])
		if !strings.Contains(string(env), "\n#"+name+"=") {
			t.Errorf("pier.env does not show %s", name)
		}
	}
	if !strings.Contains(string(env), "\n#PIER_DATA_DIR=/var/lib/pier\n") || !strings.Contains(string(env), "\n#PIER_HTTP_ADDR=:8080\n") {
		t.Errorf("pier.env does not show the defaults:\n%s", env)
	}

	// The operator's edits and the agent's data stay.
	edited := strings.Replace(string(env), "#PIER_HTTP_ADDR=:80\n", "PIER_HTTP_ADDR=:80\n", 1)
	if err := os.WriteFile(filepath.Join(root, "etc/pier/pier.env"), []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/pier/pier.db"), []byte("state"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err = runInstallIn(t, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kept     /var/lib/pier", "kept     /etc/pier/pier.env", "kept     /etc/systemd/system/pier.service"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run: output lacks %q:\n%s", want, out)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(root, "etc/pier/pier.env")); string(got) != edited {
		t.Errorf("the second install changed the edited pier.env")
	}
	if got, _ := os.ReadFile(filepath.Join(root, "var/lib/pier/pier.db")); string(got) != "state" {
		t.Errorf("the second install changed the data dir")
	}
}

// TestInstallOtherPaths: --bin-dir, --data-dir, --env-file and --unit-dir
// move the files, and the unit names them.
func TestInstallOtherPaths(t *testing.T) {
	root := t.TempDir()
	if _, _, err := runInstallIn(t, root, "--bin-dir", "/usr/bin", "--data-dir", "/srv/pier", "--env-file", "/etc/default/pier", "--unit-dir", "/lib/systemd/system"); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/pier.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ExecStart=/usr/bin/pier agent", "EnvironmentFile=-/etc/default/pier", "ReadWritePaths=/srv/pier"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	for _, p := range []string{"usr/bin/pier", "srv/pier", "etc/default/pier"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Error(err)
		}
	}
}

// TestInstallRefusesBadPaths: a relative path, or a data dir that is a
// file, is refused with the flag to fix, and nothing is written.
func TestInstallRefusesBadPaths(t *testing.T) {
	root := t.TempDir()
	_, _, err := runInstallIn(t, root, "--data-dir", "var/lib/pier")
	if err == nil || !strings.Contains(err.Error(), "absolute path") || !strings.Contains(err.Error(), "--data-dir") {
		t.Errorf("a relative --data-dir: %v", err)
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("a refused install wrote %d entries", len(ents))
	}
	if err := os.MkdirAll(filepath.Join(root, "var/lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "var/lib/pier"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runInstallIn(t, root); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a data dir that is a file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "usr")); err == nil {
		t.Errorf("a refused install wrote the binary")
	}
}
