// Command debpkg builds pier's Debian package from a pier binary (`make
// package`). The package carries what `pier install` lays out, so both
// install the same files: the binary at /usr/bin/pier, the unit at
// /lib/systemd/system/pier.service and /etc/pier/pier.env as a conffile;
// its maintainer scripts create the data dir, start the service, and hand
// a running agent over to the new binary on an upgrade (pier upgrade).
package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

//go:embed scripts
var scripts embed.FS

// The paths of the package's files on the machine it is installed on.
const (
	binDir  = "/usr/bin"
	unitDir = "/lib/systemd/system"
	envFile = "/etc/pier/pier.env"
)

func main() {
	binary := flag.String("binary", "bin/pier", "the pier binary to package")
	out := flag.String("out", "dist", "the directory the .deb is written to")
	arch := flag.String("arch", runtime.GOARCH, "the Debian architecture of the binary (GOARCH names: amd64, arm64)")
	flag.Parse()
	name, err := build(context.Background(), *binary, *out, *arch)
	if err != nil {
		fmt.Fprintln(os.Stderr, "debpkg:", err)
		os.Exit(1)
	}
	fmt.Println(name)
}

// build writes the package of binary into dir and returns its path.
func build(ctx context.Context, binary, dir, arch string) (string, error) {
	version, err := binaryVersion(ctx, binary)
	if err != nil {
		return "", err
	}
	stage, err := os.MkdirTemp("", "pier-deb-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(stage)
	// The files, laid out by the binary itself as `pier install` does.
	cmd := exec.CommandContext(ctx, binary, "install", "--root", filepath.Join(stage, "root"),
		"--bin-dir", binDir, "--unit-dir", unitDir, "--env-file", envFile, "--no-start")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s install --root: %v\n%s", binary, err, b)
	}
	info, err := packageInfo(stage, version, arch)
	if err != nil {
		return "", err
	}
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, deb.Default.ConventionalFileName(info))
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o644))
	if err != nil {
		return "", err
	}
	defer f.Cleanup()
	if err := deb.Default.Package(info, f); err != nil {
		return "", fmt.Errorf("packaging: %w", err)
	}
	return path, f.CloseAtomicallyReplace()
}

// packageInfo describes the package: the staged files and the scripts.
func packageInfo(stage, version, arch string) (*nfpm.Info, error) {
	root := filepath.Join(stage, "root")
	script := func(name string) (string, error) {
		b, err := scripts.ReadFile("scripts/" + name)
		if err != nil {
			return "", err
		}
		p := filepath.Join(stage, name)
		return p, os.WriteFile(p, b, 0o755)
	}
	var s nfpm.Scripts
	for _, x := range []struct {
		name string
		to   *string
	}{{"preinst", &s.PreInstall}, {"postinst", &s.PostInstall}, {"prerm", &s.PreRemove}, {"postrm", &s.PostRemove}} {
		p, err := script(x.name)
		if err != nil {
			return nil, err
		}
		*x.to = p
	}
	file := func(dst, typ string, mode os.FileMode) *files.Content {
		return &files.Content{Source: filepath.Join(root, dst), Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode}}
	}
	info := &nfpm.Info{
		Name:          "pier",
		Arch:          arch,
		Platform:      "linux",
		Version:       debVersion(version),
		VersionSchema: "none",
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    "pier maintainers <maintainers@pier.invalid>",
		Description:   "self-hosted, Heroku-like platform\n git push builds an app with a buildpack, runs it blue/green and routes it\n through pier's own auto-TLS proxy; releases roll back with a switch.",
		Homepage:      "https://github.com/pierhq/pier",
		MTime:         time.Now().UTC().Truncate(time.Second),
		Overridables: nfpm.Overridables{
			Depends:  []string{"git"},
			Contents: files.Contents{file(binDir+"/pier", "", 0o755), file(unitDir+"/pier.service", "", 0o644), file(envFile, files.TypeConfigNoReplace, 0o600)},
			Scripts:  s,
		},
	}
	return nfpm.WithDefaults(info), nil
}

// binaryVersion is what `BINARY version --json` reports.
func binaryVersion(ctx context.Context, binary string) (string, error) {
	cmd := exec.CommandContext(ctx, binary, "version", "--json")
	cmd.Env = append(os.Environ(), "PIER_API=http://127.0.0.1:1")
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s version: %w", binary, err)
	}
	var v struct {
		Client string `json:"client"`
	}
	if err := json.Unmarshal(b, &v); err != nil || v.Client == "" {
		return "", errors.New(binary + " does not say its version: is it pier?")
	}
	return v.Client, nil
}

var (
	release      = regexp.MustCompile(`^[0-9]+\.[0-9]+`)
	notInVersion = regexp.MustCompile(`[^A-Za-z0-9.+~]+`)
)

// debVersion turns pier's version into a Debian one: v1.2.3 is 1.2.3, a
// pre-release v1.3.0-rc1 sorts before 1.3.0 as 1.3.0~rc1, and a build that
// is no release (dev, a commit, even one that starts with a digit) is
// 0.0.0~ and the rest.
func debVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	if !release.MatchString(v) {
		v = "0.0.0~" + v
	}
	return notInVersion.ReplaceAllString(strings.Replace(v, "-", "~", 1), ".")
}
