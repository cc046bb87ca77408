// Package static is the built-in buildpack for static sites, and the file
// server that runs them.
//
// A static site needs no compiler, only a server. The buildpack copies the
// running pier executable into the slug as bin/pier, and the site's web
// process is `pier static-serve DIR`: the slug stays self-contained (it
// runs where only the slug is unpacked, as on a Nomad client), and no
// toolchain is needed at build time. The cost is the size of one pier
// binary in each static slug.
package static

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Name is shown to the user.
const Name = "Static"

// roots are where a site's index.html may be, in order.
var roots = []string{".", "public", "dist"}

// Detect reports whether dir holds a static site.
func Detect(dir string) (bool, string) {
	if _, ok := docRoot(dir); ok {
		return true, ""
	}
	return false, "no index.html at the root, in public/ or in dist/"
}

func docRoot(dir string) (string, bool) {
	for _, r := range roots {
		if bpkit.IsFile(filepath.Join(dir, r, "index.html")) {
			return r, true
		}
	}
	return "", false
}

// Build puts the static file server into the slug and returns the web
// process that serves the site.
func Build(_ context.Context, r bpkit.Request) (map[string]string, error) {
	root, ok := docRoot(r.BuildDir)
	if !ok {
		return nil, fmt.Errorf("no index.html at the root, in public/ or in dist/: add one")
	}
	bpkit.Step(r.Log, "Serving the files in %s", display(root))
	exe, err := selfExecutable()
	if err != nil {
		return nil, fmt.Errorf("finding the pier executable: %w", err)
	}
	bpkit.Step(r.Log, "Installing the static file server (bin/pier)")
	dst := filepath.Join(r.BuildDir, "bin", "pier")
	if bpkit.Exists(dst) {
		return nil, fmt.Errorf("bin/pier already exists in the app: rename it, the static buildpack installs its server there")
	}
	if err := bpkit.CopyFile(dst, exe); err != nil {
		return nil, fmt.Errorf("installing the static file server: %w", err)
	}
	bpkit.Info(r.Log, "set PIER_STATIC_SPA=1 to answer unknown paths with index.html")
	return map[string]string{"web": "pier static-serve " + root}, nil
}

// selfExecutable is the path this program can read itself by. The build's
// user may not be able to reach pier's own path (a home directory), but
// always reaches /proc/self/exe.
func selfExecutable() (string, error) {
	if f, err := os.Open("/proc/self/exe"); err == nil {
		f.Close()
		return "/proc/self/exe", nil
	}
	return os.Executable()
}

func display(root string) string {
	if root == "." {
		return "the app's root"
	}
	return root + "/"
}
