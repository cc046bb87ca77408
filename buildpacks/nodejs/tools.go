package nodejs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Node.js, npm, yarn and pnpm come from the npm registry (Node.js as the
// node-linux-<arch> packages, or from nodejs.org's dist: nodesource.go),
// are unpacked once into the app's build
// cache, <cache>/dist/<package>/<version>, and copied (hard-linked where
// the file system allows) into the slug's .heroku/ directory, whose
// commands bin/ links to, so that the app runs with the node it was built
// with. The cache is the app's own: a download shared with other apps could
// be altered by their builds, which run as other users.

// toolsDir is where the tools live in the slug.
const toolsDir = ".heroku"

// nodePackage is the registry package of Node.js for this machine.
func nodePackage() string {
	arch := runtime.GOARCH
	if arch == "amd64" {
		arch = "x64"
	}
	return "node-linux-" + arch
}

// fetchTool resolves rng among name's versions and unpacks that version
// into the cache, logging which it took and whether it was cached.
func fetchTool(ctx context.Context, r bpkit.Request, reg *registry, label, name, rng string, ok func(pkgVersion) bool) (string, pkgVersion, error) {
	meta, err := reg.metadata(ctx, name)
	if err != nil {
		return "", pkgVersion{}, err
	}
	v, err := meta.resolve(rng, ok)
	if err != nil {
		return "", pkgVersion{}, err
	}
	dir := filepath.Join(r.CacheDir, "dist", strings.ReplaceAll(name, "/", "+"), v.Version)
	cached, err := reg.install(ctx, name, v, dir)
	if err != nil {
		return "", pkgVersion{}, err
	}
	from := "Downloaded " + name + "@" + v.Version + " from " + reg.host()
	if cached {
		from = "Using " + name + "@" + v.Version + " from the build cache"
	}
	bpkit.Step(r.Log, "Installing %s %s", label, v.Version)
	bpkit.Info(r.Log, "Resolved %q to %s; %s", rng, v.Version, from)
	return dir, v, nil
}

// installNode puts the newest Node.js release that satisfies rng and fits
// (nil accepts all) into the slug and returns its version.
func installNode(ctx context.Context, r bpkit.Request, reg *registry, dist *nodeDist, rng string, fits func(version) bool) (version, error) {
	dir, v, err := fetchNode(ctx, r, reg, dist, rng, fits)
	if err != nil {
		return version{}, err
	}
	node, err := nodeBinary(dir)
	if err != nil {
		return version{}, fmt.Errorf("installing node %s: %w", v, err)
	}
	bin := filepath.Join(r.BuildDir, toolsDir, "node", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return version{}, err
	}
	if err := linkOrCopy(node, filepath.Join(bin, "node")); err != nil {
		return version{}, fmt.Errorf("installing node: %w", err)
	}
	if err := exposeCommand(r.BuildDir, "node"); err != nil {
		return version{}, err
	}
	return v, nil
}

// oldNodeBin is where the node-linux-<arch> packages of Node.js before 4
// have their node: in a tarball inside the package, which its preinstall
// script unpacks.
var oldNodeBin = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(node-v[0-9.]+-linux-[a-z0-9]+)/bin/node$`) })

// nodeBinary is the node executable of an unpacked node-linux-<arch>
// package: bin/node, or that of an old package's tarball, unpacked here
// once (no package script runs).
func nodeBinary(dir string) (string, error) {
	if p := filepath.Join(dir, "bin", "node"); bpkit.IsFile(p) {
		return p, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return "", err
	}
	var pkg struct {
		Bin map[string]string `json:"bin"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("reading the package's bin: %w", err)
	}
	m := oldNodeBin().FindStringSubmatch(pkg.Bin["node"])
	if m == nil {
		return "", fmt.Errorf("the package has no bin/node, nor a node tarball (its bin: %q)", pkg.Bin["node"])
	}
	p := filepath.Join(dir, filepath.FromSlash(m[0]))
	if bpkit.IsFile(p) {
		return p, nil
	}
	f, err := os.Open(filepath.Join(dir, m[1]+".tar.gz"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	tmp, err := os.MkdirTemp(dir, ".unpack-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if err := untar(f, tmp); err != nil {
		return "", fmt.Errorf("unpacking %s.tar.gz: %w", m[1], err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, m[1])); err != nil {
		return "", err
	}
	return p, nil
}

// bundledNpm is the npm major that Node.js releases of a major ship with.
func bundledNpm(nodeMajor int) string {
	switch {
	case nodeMajor <= 4: // 0.10, 0.12 and 4
		return "2.x"
	case nodeMajor <= 6:
		return "3.x"
	case nodeMajor == 7:
		return "4.x"
	case nodeMajor <= 9:
		return "5.x"
	case nodeMajor <= 14:
		return "6.x"
	case nodeMajor == 15:
		return "7.x"
	case nodeMajor <= 17:
		return "8.x"
	case nodeMajor <= 19:
		return "9.x || 10.x"
	case nodeMajor <= 23:
		return "10.x"
	}
	return "11.x"
}

// installPackageTool puts npm, yarn or pnpm (package name, version rng)
// into the slug with its commands on PATH, and returns its version.
func installPackageTool(ctx context.Context, r bpkit.Request, reg *registry, label, name, rng string, node version) (version, error) {
	fits := func(pv pkgVersion) bool {
		req := pv.Engines["node"]
		if req == "" || node == (version{}) {
			return true
		}
		ok, err := satisfies(node, req)
		return err != nil || ok
	}
	dir, v, err := fetchTool(ctx, r, reg, label, name, rng, fits)
	if err != nil && strings.HasPrefix(err.Error(), "no version") {
		// None fits this node by its engines: take the newest anyway,
		// as npm itself only warns.
		dir, v, err = fetchTool(ctx, r, reg, label, name, rng, nil)
	}
	if err != nil {
		return version{}, err
	}
	short := strings.TrimPrefix(name, "@yarnpkg/cli-dist")
	if short == "" {
		short = "yarn"
	}
	dest := filepath.Join(r.BuildDir, toolsDir, short)
	if name == "npm" {
		dest = filepath.Join(r.BuildDir, toolsDir, "node", "lib", "node_modules", "npm")
	}
	os.RemoveAll(dest)
	if err := copyTree(dir, dest); err != nil {
		return version{}, fmt.Errorf("installing %s: %w", name, err)
	}
	bins, err := binEntries(v.Bin, filepath.Join(dir, "package.json"))
	if err != nil {
		return version{}, fmt.Errorf("installing %s: %w", name, err)
	}
	for cmd, rel := range bins {
		if strings.ContainsAny(cmd, "/\\") || cmd == "" {
			continue
		}
		if err := writeWrapper(r.BuildDir, cmd, dest, rel); err != nil {
			return version{}, fmt.Errorf("installing %s: %w", name, err)
		}
	}
	return parseVersion(v.Version)
}

// binEntries reads a package's commands: its "bin" as a map or, for a
// single string, named after the package.
func binEntries(raw json.RawMessage, pkgFile string) (map[string]string, error) {
	if s := ""; len(raw) == 0 || json.Unmarshal(raw, &s) == nil {
		b, err := os.ReadFile(pkgFile)
		if err != nil {
			return nil, err
		}
		var p struct {
			Name string          `json:"name"`
			Bin  json.RawMessage `json:"bin"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return nil, err
		}
		if len(raw) == 0 {
			raw = p.Bin
		}
		if s := ""; json.Unmarshal(raw, &s) == nil {
			return map[string]string{filepath.Base(p.Name): s}, nil
		}
	}
	m := map[string]string{}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("reading its commands: %w", err)
	}
	return m, nil
}

// writeWrapper writes .heroku/node/bin/<cmd>, a script that runs the
// package's command rel (with node, unless it is a native program), and
// links bin/<cmd> to it. Paths are relative so the slug can move.
func writeWrapper(buildDir, cmd, pkgDir, rel string) error {
	binDir := filepath.Join(buildDir, toolsDir, "node", "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	target := filepath.Join(pkgDir, filepath.FromSlash(rel))
	relTarget, err := filepath.Rel(binDir, target)
	if err != nil {
		return err
	}
	run := `exec node "$here/` + relTarget + `" "$@"`
	if native(target) {
		run = `exec "$here/` + relTarget + `" "$@"`
	}
	script := "#!/bin/sh\nhere=$(dirname \"$(readlink -f \"$0\")\")\n" + run + "\n"
	if err := os.WriteFile(filepath.Join(binDir, cmd), []byte(script), 0o755); err != nil {
		return err
	}
	return exposeCommand(buildDir, cmd)
}

// native reports whether file is an executable of this machine rather
// than a script.
func native(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	return err == nil && bytes.Equal(head, []byte("\x7fELF"))
}

// exposeCommand links bin/<cmd> to .heroku/node/bin/<cmd>: the slug's bin/
// is on PATH when the app runs.
func exposeCommand(buildDir, cmd string) error {
	bin := filepath.Join(buildDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(bin, cmd)
	if fi, err := os.Lstat(dst); err == nil && fi.Mode()&os.ModeSymlink == 0 {
		return nil // the app's own bin/<cmd> wins
	}
	os.Remove(dst)
	return os.Symlink(filepath.Join("..", toolsDir, "node", "bin", cmd), dst)
}

// linkOrCopy hard-links src to dst, or copies it where it cannot.
func linkOrCopy(src, dst string) error {
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	return bpkit.CopyFile(dst, src)
}

// copyTree copies dir src to dst: files hard-linked where possible,
// symlinks as they are.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type()&os.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, to)
		case d.Type().IsRegular():
			if d.Name() == ".pier-complete" {
				return nil
			}
			return linkOrCopy(p, to)
		}
		return nil
	})
}
