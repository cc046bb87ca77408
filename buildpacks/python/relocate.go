package python

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

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
