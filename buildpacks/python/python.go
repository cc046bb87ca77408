// Package python is the built-in Python buildpack: a virtualenv in the
// slug (.venv) with the app's requirements.txt or pyproject.toml
// installed by pip, pip's cache kept in the build cache.
//
// At run time the slug's bin/ is on PATH; bin/python and bin/python3 run
// the virtualenv's interpreter, and the virtualenv's console scripts
// (gunicorn, ...) are linked into bin/ with portable shebangs, so a
// Procfile says "web: gunicorn app:app" as on Heroku.
package python

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Name is shown to the user.
const Name = "Python"

// Detect reports whether dir holds a Python app.
func Detect(dir string) (bool, string) {
	for _, f := range []string{"requirements.txt", "pyproject.toml"} {
		if bpkit.IsFile(filepath.Join(dir, f)) {
			return true, ""
		}
	}
	return false, "no requirements.txt or pyproject.toml"
}

// configVars are the app's config vars that reach pip.
var configVars = []string{"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_TRUSTED_HOST"}

const venv = ".venv"

// Build creates the virtualenv and installs the app's dependencies.
func Build(ctx context.Context, r bpkit.Request) (map[string]string, error) {
	py, err := exec.LookPath("python3")
	if err != nil {
		return nil, fmt.Errorf("python3 is not installed on this machine: install it (and python3-venv) on the build host")
	}
	cfg, err := bpkit.ReadEnv(r.EnvDir)
	if err != nil {
		return nil, err
	}
	version, err := bpkit.Output(ctx, bpkit.Command{Name: py, Args: []string{"--version"}})
	if err != nil {
		return nil, err
	}
	bpkit.Step(r.Log, "Creating a virtualenv with %s", version)
	vdir := filepath.Join(r.BuildDir, venv)
	if err := os.RemoveAll(vdir); err != nil {
		return nil, fmt.Errorf("removing the old %s: %w", venv, err)
	}
	if err := bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Name: py, Args: []string{"-m", "venv", venv}}); err != nil {
		return nil, fmt.Errorf("%w: is python3-venv installed on the build host?", err)
	}
	env := append([]string{
		"PIP_CACHE_DIR=" + filepath.Join(r.CacheDir, "pip"),
		"PIP_DISABLE_PIP_VERSION_CHECK=1",
		"PIP_NO_INPUT=1",
	}, bpkit.Pass(cfg, configVars...)...)
	args := []string{"-m", "pip", "install", "--progress-bar", "off"}
	if bpkit.IsFile(filepath.Join(r.BuildDir, "requirements.txt")) {
		args = append(args, "-r", "requirements.txt")
	} else {
		args = append(args, ".")
	}
	bpkit.Step(r.Log, "Installing dependencies with pip")
	vpy := filepath.Join(vdir, "bin", "python")
	if err := bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Env: env, Name: vpy, Args: args}); err != nil {
		return nil, err
	}
	bpkit.Step(r.Log, "Making the virtualenv relocatable")
	if err := relocate(r.BuildDir); err != nil {
		return nil, fmt.Errorf("making the virtualenv relocatable: %w", err)
	}
	return nil, nil
}

// relocate rewrites the absolute shebangs pip wrote into .venv/bin, adds
// bin/python and bin/python3 launchers and links console scripts into bin/.
func relocate(buildDir string) error {
	vbin := filepath.Join(buildDir, venv, "bin")
	bin := filepath.Join(buildDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	launcher := "#!/bin/sh\nexec \"$(dirname \"$0\")/../" + venv + "/bin/python\" \"$@\"\n"
	for _, n := range []string{"python", "python3"} {
		if err := os.WriteFile(filepath.Join(bin, n), []byte(launcher), 0o755); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(vbin)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue // python, python3: links to the interpreter
		}
		p := filepath.Join(vbin, e.Name())
		rewritten, err := fixShebang(p, vbin)
		if err != nil {
			return err
		}
		if !rewritten || strings.HasPrefix(e.Name(), "pip") || bpkit.Exists(filepath.Join(bin, e.Name())) {
			continue
		}
		if err := os.Symlink(filepath.Join("..", venv, "bin", e.Name()), filepath.Join(bin, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// fixShebang replaces a "#!<vbin>/python" line with one that finds python
// on PATH (the slug's bin/python launcher).
func fixShebang(path, vbin string) (bool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return false, err
	}
	first, rest, _ := bytes.Cut(b, []byte("\n"))
	if !bytes.HasPrefix(first, []byte("#!"+vbin+"/python")) {
		return false, nil
	}
	var out bytes.Buffer
	w := bufio.NewWriter(&out)
	fmt.Fprintf(w, "#!/usr/bin/env python3\n")
	w.Write(rest)
	w.Flush()
	fi, err := os.Stat(path)
	if err != nil {
		return false, err
	}
	return true, os.WriteFile(path, out.Bytes(), fi.Mode().Perm())
}
