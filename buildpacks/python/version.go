package python

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// The Python an app builds and runs with is the one it asks for, as on
// Heroku: .python-version ("3.12" or "3.12.1"), else runtime.txt
// ("python-3.12.1"), else Pipfile.lock's python_full_version or
// python_version. pier does not download Python: it takes an interpreter
// the build host has, a python3.X on PATH or one under $PYENV_ROOT. A
// minor version ("3.12") takes the newest 3.12.x there; an exact one takes
// that release, or else the newest of its line with a note saying so.

// pyVersion is a Python release: 3.12.1 is {3, 12, 1}.
type pyVersion [3]int

func (v pyVersion) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

func (v pyVersion) minor() string { return fmt.Sprintf("%d.%d", v[0], v[1]) }

func (v pyVersion) less(w pyVersion) bool {
	for i := range v {
		if v[i] != w[i] {
			return v[i] < w[i]
		}
	}
	return false
}

var (
	pyVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?$`) })
	minorNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^python3\.\d+$`) })
)

// parsePy reads "3.12" or "3.12.1": the release and whether it named the
// patch release.
func parsePy(s string) (pyVersion, bool, error) {
	m := pyVersionRE().FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return pyVersion{}, false, fmt.Errorf("%q is not a Python version (3.12 or 3.12.1)", s)
	}
	var v pyVersion
	for i := 0; i < 3; i++ {
		v[i], _ = strconv.Atoi(m[i+1])
	}
	return v, m[3] != "", nil
}

// wantedPython is the version the app asks for and the file that says so;
// "" when it asks for none.
func wantedPython(dir string) (string, string, error) {
	if b, err := os.ReadFile(filepath.Join(dir, ".python-version")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				return l, ".python-version", nil
			}
		}
		return "", "", fmt.Errorf(".python-version names no version: write one in it (3.12) and push again")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "runtime.txt")); err == nil {
		s := strings.TrimSpace(string(b))
		v, ok := strings.CutPrefix(s, "python-")
		if !ok {
			return "", "", fmt.Errorf("runtime.txt says %q, not python-3.12.1: fix it (or replace it with a .python-version file) and push again", s)
		}
		return v, "runtime.txt", nil
	}
	if b, err := os.ReadFile(filepath.Join(dir, "Pipfile.lock")); err == nil {
		var lock struct {
			Meta struct {
				Requires struct {
					Full    string `json:"python_full_version"`
					Version string `json:"python_version"`
				} `json:"requires"`
			} `json:"_meta"`
		}
		if json.Unmarshal(b, &lock) == nil {
			if v := lock.Meta.Requires.Full; v != "" {
				return v, "Pipfile.lock", nil
			}
			if v := lock.Meta.Requires.Version; v != "" {
				return v, "Pipfile.lock", nil
			}
		}
	}
	return "", "", nil
}

// interpreter is a Python found on the build host.
type interpreter struct {
	path    string
	version pyVersion
}

// findInterpreters lists the build host's Pythons: python3 and python3.X
// in PATH (not pyenv's shims, which run only the selected version) and
// those under $PYENV_ROOT/versions.
func findInterpreters(ctx context.Context) []interpreter {
	var cands []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if strings.HasSuffix(d, "/shims") {
			continue
		}
		m, _ := filepath.Glob(filepath.Join(d, "python3*"))
		cands = append(cands, m...)
	}
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		m, _ := filepath.Glob(filepath.Join(root, "versions", "*", "bin", "python3"))
		cands = append(cands, m...)
	}
	seen := map[string]bool{}
	var out []interpreter
	for _, c := range cands {
		base := filepath.Base(c)
		if base != "python3" && !minorNameRE().MatchString(base) {
			continue // python3-config, python3.11-config
		}
		real, err := filepath.EvalSymlinks(c)
		if err != nil || seen[real] {
			continue
		}
		seen[real] = true
		v, err := pythonVersion(ctx, c)
		if err != nil {
			continue
		}
		out = append(out, interpreter{path: c, version: v})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[j].version.less(out[i].version) })
	return out
}

// pythonVersion asks an interpreter its version.
func pythonVersion(ctx context.Context, path string) (pyVersion, error) {
	s, err := bpkit.Output(ctx, bpkit.Command{Name: path, Args: []string{"-c", "import platform; print(platform.python_version())"}})
	if err != nil {
		return pyVersion{}, err
	}
	v, _, err := parsePy(s)
	return v, err
}

// choosePython picks the interpreter for want ("" takes the build host's
// python3) and says which it took.
func choosePython(ctx context.Context, r bpkit.Request, want, from string) (interpreter, error) {
	all := findInterpreters(ctx)
	if len(all) == 0 {
		return interpreter{}, fmt.Errorf("no Python is installed on this machine: install python3 (and python3-venv) on the build host")
	}
	if want == "" {
		in, what := all[0], "newest Python"
		if p, err := exec.LookPath("python3"); err == nil {
			if v, err := pythonVersion(ctx, p); err == nil {
				in, what = interpreter{path: p, version: v}, "python3"
			}
		}
		bpkit.Step(r.Log, "Installing python %s", in.version)
		bpkit.Info(r.Log, "No Python version was asked for: using this machine's %s; pin one with a .python-version file (3.12)", what)
		return in, nil
	}
	v, exact, err := parsePy(strings.TrimPrefix(want, "python-"))
	if err != nil {
		return interpreter{}, fmt.Errorf("%s: %w: fix it and push again", from, err)
	}
	var line *interpreter
	for i, in := range all { // newest first
		if in.version.minor() != v.minor() {
			continue
		}
		if !exact || in.version == v {
			bpkit.Step(r.Log, "Installing python %s", in.version)
			bpkit.Info(r.Log, "Using Python %s specified in %s: this machine's %s", want, from, in.path)
			return in, nil
		}
		if line == nil {
			line = &all[i]
		}
	}
	if line != nil {
		bpkit.Step(r.Log, "Installing python %s", line.version)
		bpkit.Info(r.Log, "%s asks for Python %s; this machine has %s of the %s line (%s), which is used", from, v, line.version, v.minor(), line.path)
		return *line, nil
	}
	var have []string
	for _, in := range all {
		have = append(have, in.version.String())
	}
	return interpreter{}, fmt.Errorf("%s asks for Python %s, which is not installed on this machine (it has %s): install python%s on the build host, or ask for one of those in %s",
		from, want, strings.Join(dedupe(have), ", "), v.minor(), from)
}

func dedupe(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}
