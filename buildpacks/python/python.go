// Package python is the built-in Python buildpack, after Heroku's: the
// Python .python-version or runtime.txt asks for (one the build host has),
// a virtualenv in the slug (.venv) with the packages of requirements.txt,
// Pipfile.lock, poetry.lock or uv.lock installed by pip, pip's cache kept in
// the build cache, and Django's collectstatic.
//
// At run time the slug's bin/ is on PATH; bin/python and bin/python3 run
// the virtualenv's interpreter, and the virtualenv's console scripts
// (gunicorn, ...) are linked into bin/ with portable shebangs, so a
// Procfile says "web: gunicorn app:app" as on Heroku.
package python

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Name is shown to the user.
const Name = "Python"

// detectFiles are those that make an app a Python app, as on Heroku.
var detectFiles = []string{"requirements.txt", "Pipfile", "Pipfile.lock", "poetry.lock", "uv.lock", "pyproject.toml", "setup.py", "runtime.txt", ".python-version"}

// Detect reports whether dir holds a Python app.
func Detect(dir string) (bool, string) {
	for _, f := range detectFiles {
		if bpkit.IsFile(filepath.Join(dir, f)) {
			return true, ""
		}
	}
	return false, "no requirements.txt, Pipfile, poetry.lock, uv.lock or pyproject.toml"
}

// configVars are the app's config vars that reach pip.
var configVars = []string{"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST"}

const venv = ".venv"

// Build creates the virtualenv and installs the app's dependencies.
func Build(ctx context.Context, r bpkit.Request) (map[string]string, error) {
	cfg, err := bpkit.ReadEnv(r.EnvDir)
	if err != nil {
		return nil, err
	}
	pm, err := chooseManager(r.BuildDir)
	if err != nil {
		return nil, err
	}
	want, from, err := wantedPython(r.BuildDir)
	if err != nil {
		return nil, err
	}
	py, err := choosePython(ctx, r, want, from)
	if err != nil {
		return nil, err
	}
	vdir := filepath.Join(r.BuildDir, venv)
	if err := os.RemoveAll(vdir); err != nil {
		return nil, fmt.Errorf("removing the old %s: %w", venv, err)
	}
	if err := bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Name: py.path, Args: []string{"-m", "venv", venv}}); err != nil {
		return nil, fmt.Errorf("%w: is the venv module (python%s-venv) installed on the build host?", err, py.version.minor())
	}
	env := append([]string{
		"PIP_CACHE_DIR=" + filepath.Join(r.CacheDir, "pip"),
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
	}, bpkit.Pass(cfg, configVars...)...)
	if err := install(ctx, r, pm, env); err != nil {
		return nil, err
	}
	bpkit.Step(r.Log, "Making the virtualenv relocatable")
	if err := relocate(r.BuildDir); err != nil {
		return nil, fmt.Errorf("making the virtualenv relocatable: %w", err)
	}
	if err := collectstatic(ctx, r, cfg, env); err != nil {
		return nil, err
	}
	return nil, nil
}

// install runs pip with the app's requirements, or with those its lock
// file pins.
func install(ctx context.Context, r bpkit.Request, pm manager, env []string) error {
	args := []string{"-m", "pip", "install", "--progress-bar", "off"}
	switch {
	case pm.file == ".":
		bpkit.Step(r.Log, "Installing the project (pyproject.toml or setup.py) with pip")
		args = append(args, ".")
	case pm.name == "pip":
		bpkit.Step(r.Log, "Installing requirements with pip")
		args = append(args, "-r", "requirements.txt")
	default:
		lines, err := exportLock(r.BuildDir, pm)
		if err != nil {
			return err
		}
		bpkit.Step(r.Log, "Installing dependencies from %s with pip", pm.file)
		bpkit.Info(r.Log, "%d packages pinned by %s; %s itself is not run", len(lines), pm.file, pm.name)
		f, err := os.CreateTemp("", "requirements-*.txt")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		_, werr := f.WriteString(strings.Join(lines, "\n") + "\n")
		if cerr := f.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return fmt.Errorf("writing the requirements of %s: %w", pm.file, werr)
		}
		args = append(args, "--no-deps", "-r", f.Name())
	}
	vpy := filepath.Join(r.BuildDir, venv, "bin", "python")
	if err := bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Env: env, Name: vpy, Args: args}); err != nil {
		if pm.file == "." || pm.name == "pip" {
			return err
		}
		return fmt.Errorf("%w: if %s is out of step with the project, lock again with %s, commit %s and push again", err, pm.file, pm.name, pm.file)
	}
	return nil
}
