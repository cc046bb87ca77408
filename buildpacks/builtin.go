package buildpacks

import (
	"context"
	"io"
	"os"
	"path/filepath"

	"github.com/pierhq/pier/buildpacks/golang"
	"github.com/pierhq/pier/buildpacks/internal/bpkit"
	"github.com/pierhq/pier/buildpacks/nodejs"
	"github.com/pierhq/pier/buildpacks/python"
	"github.com/pierhq/pier/buildpacks/static"
)

// builtin is a buildpack compiled into pier.
type builtin struct {
	name    string // what BUILDPACK and app.json say: "go"
	display string // what the user reads: "Go"
	detect  func(dir string) (bool, string)
	build   func(ctx context.Context, r bpkit.Request) (map[string]string, error)
}

// builtins in detection order; the Procfile pass-through comes last.
var builtins = []builtin{
	{"go", golang.Name, golang.Detect, golang.Build},
	{"nodejs", nodejs.Name, nodejs.Detect, nodejs.Build},
	{"python", python.Name, python.Detect, python.Build},
	{"static", static.Name, static.Detect, static.Build},
	{"procfile", "Procfile", detectProcfile, buildProcfile},
}

// aliases map the names Heroku apps use to the built-ins.
var aliases = map[string]string{
	"heroku/go":               "go",
	"golang":                  "go",
	"heroku/nodejs":           "nodejs",
	"node":                    "nodejs",
	"heroku/python":           "python",
	"heroku-community/static": "static",
	"https://github.com/heroku/heroku-buildpack-go":     "go",
	"https://github.com/heroku/heroku-buildpack-nodejs": "nodejs",
	"https://github.com/heroku/heroku-buildpack-python": "python",
}

// BuiltinNames returns the built-in buildpacks in detection order.
func BuiltinNames() []string {
	names := make([]string, len(builtins))
	for i, b := range builtins {
		names[i] = b.name
	}
	return names
}

// Builtin returns the built-in buildpack name, running in this process.
// Builds go through a Builder, which runs it in a plugin process instead.
func Builtin(name string) (Buildpack, bool) {
	if name == classicName {
		return classicFromEnv(), true
	}
	for _, b := range builtins {
		if b.name == name {
			return builtinBuildpack{b}, true
		}
	}
	return nil, false
}

type builtinBuildpack struct{ b builtin }

var _ Buildpack = builtinBuildpack{}

func (bb builtinBuildpack) Detect(_ context.Context, dir string) (Detection, error) {
	ok, reason := bb.b.detect(dir)
	return Detection{Detected: ok, Name: bb.b.display, Reason: reason}, nil
}

func (bb builtinBuildpack) Build(ctx context.Context, req BuildRequest, log io.Writer) (BuildResult, error) {
	procs, err := bb.b.build(ctx, bpkit.Request{
		BuildDir: req.BuildDir,
		CacheDir: req.CacheDir,
		EnvDir:   req.EnvDir,
		Log:      log,
	})
	if err != nil {
		return BuildResult{}, err
	}
	return BuildResult{DefaultProcesses: procs}, nil
}

func detectProcfile(dir string) (bool, string) {
	if bpkit.IsFile(filepath.Join(dir, "Procfile")) {
		return true, ""
	}
	return false, "no Procfile"
}

func buildProcfile(_ context.Context, r bpkit.Request) (map[string]string, error) {
	bpkit.Step(r.Log, "Nothing to compile: the Procfile says what to run")
	if err := os.MkdirAll(filepath.Join(r.BuildDir, "bin"), 0o755); err != nil {
		return nil, err
	}
	return nil, nil
}
