package python

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// An app names its dependencies in one of requirements.txt (pip),
// Pipfile.lock (Pipenv), poetry.lock (Poetry) or uv.lock (uv), as on
// Heroku. pier installs all of them with pip, which every Python has: the
// packages a lock file pins for production (Pipenv's "default", Poetry's
// main group, uv's project dependencies without dev groups) are written
// out as a requirements file of exact versions, with the lock's hashes when
// it has one for every package, so pip installs exactly what the lock
// says. Pipenv, Poetry and uv themselves are not run.

// manager is how an app names its dependencies.
type manager struct {
	name string // pip, Pipenv, Poetry, uv
	file string
}

var managerFiles = []manager{
	{"pip", "requirements.txt"},
	{"Pipenv", "Pipfile.lock"},
	{"Poetry", "poetry.lock"},
	{"uv", "uv.lock"},
}

// chooseManager finds the app's one package manager file, refusing two.
func chooseManager(dir string) (manager, error) {
	var found []manager
	for _, m := range managerFiles {
		if bpkit.IsFile(filepath.Join(dir, m.file)) {
			found = append(found, m)
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1:
		var names []string
		for _, m := range found {
			names = append(names, fmt.Sprintf("%s (%s)", m.file, m.name))
		}
		return manager{}, fmt.Errorf("the app has more than one package manager file, %s: keep the one of the package manager you use, delete the others and push again",
			strings.Join(names, ", "))
	case bpkit.IsFile(filepath.Join(dir, "Pipfile")):
		return manager{}, fmt.Errorf("the app has a Pipfile but no Pipfile.lock: run pipenv lock, commit Pipfile.lock and push again")
	case bpkit.IsFile(filepath.Join(dir, "pyproject.toml")), bpkit.IsFile(filepath.Join(dir, "setup.py")):
		return manager{"pip", "."}, nil
	}
	return manager{}, fmt.Errorf("the app has no requirements.txt, Pipfile.lock, poetry.lock or uv.lock: add the one of the package manager you use and push again")
}

// requirement is one package a lock file pins.
type requirement struct {
	spec   string   // greetlib==1.0, or name @ git+URL@REV
	marker string   // an environment marker, "" for none
	hashes []string // sha256:...
}

// exportLock reads the lock file of m into pip requirement lines.
func exportLock(dir string, m manager) ([]string, error) {
	var reqs []requirement
	var err error
	switch m.name {
	case "Pipenv":
		reqs, err = pipenvRequirements(filepath.Join(dir, m.file))
	case "Poetry":
		reqs, err = poetryRequirements(dir)
	case "uv":
		reqs, err = uvRequirements(filepath.Join(dir, m.file))
	default:
		return nil, fmt.Errorf("no lock file to export for %s", m.name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", m.file, err)
	}
	hashed := len(reqs) > 0
	for _, r := range reqs {
		hashed = hashed && len(r.hashes) > 0
	}
	lines := []string{}
	for _, r := range reqs {
		l := r.spec
		if r.marker != "" {
			l += " ; " + r.marker
		}
		if hashed { // pip checks all or nothing
			for _, h := range r.hashes {
				l += " --hash=" + h
			}
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// normalize is a package name as PEP 503 compares them.
func normalize(name string) string {
	return strings.ToLower(nameSepRE().ReplaceAllString(strings.TrimSpace(name), "-"))
}

var (
	nameSepRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[-_.]+`) })
	pep508RE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`) })
)

// pipenvRequirements reads Pipfile.lock's "default" packages.
func pipenvRequirements(file string) ([]requirement, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var lock struct {
		Default map[string]struct {
			Version  string   `json:"version"`
			Hashes   []string `json:"hashes"`
			Markers  string   `json:"markers"`
			Extras   []string `json:"extras"`
			Git      string   `json:"git"`
			Ref      string   `json:"ref"`
			Path     string   `json:"path"`
			Editable bool     `json:"editable"`
		} `json:"default"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, fmt.Errorf("it is not valid JSON (%v): run pipenv lock, commit Pipfile.lock and push again", err)
	}
	var out []requirement
	for name, p := range lock.Default {
		r := requirement{marker: p.Markers, hashes: p.Hashes}
		full := name
		if len(p.Extras) > 0 {
			full += "[" + strings.Join(p.Extras, ",") + "]"
		}
		switch {
		case p.Git != "":
			r.spec = full + " @ git+" + p.Git
			if p.Ref != "" {
				r.spec += "@" + p.Ref
			}
		case p.Path != "":
			r.spec = localPath(p.Path)
		case p.Version != "":
			r.spec = full + p.Version
		default:
			return nil, fmt.Errorf("package %s has no version, git or path: run pipenv lock, commit Pipfile.lock and push again", name)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spec < out[j].spec })
	return out, nil
}

// localPath is a path in the app as pip reads it.
func localPath(p string) string {
	p = filepath.ToSlash(filepath.Clean(p))
	if p == "." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		return p
	}
	return "./" + p
}

// lockGraph is the packages of a Poetry or uv lock and the dependencies
// between them, to find what production needs.
type lockGraph struct {
	reqs  map[string]requirement
	deps  map[string][]edge
	roots []edge
}

type edge struct{ name, marker string }

// closure is every package reachable from the roots, each with the
// markers of the edges that reach it or'ed together ("" when one edge has
// none).
func (g lockGraph) closure() ([]requirement, error) {
	markers := map[string][]string{}
	uncond := map[string]bool{}
	var visit func(e edge, from string) error
	visit = func(e edge, from string) error {
		n := normalize(e.name)
		r, ok := g.reqs[n]
		if !ok {
			return fmt.Errorf("%s needs %s, which the lock file does not pin: lock again, commit the lock file and push again", from, e.name)
		}
		_, seen := markers[n]
		if e.marker == "" {
			uncond[n] = true
		}
		markers[n] = append(markers[n], e.marker)
		if seen {
			return nil
		}
		for _, d := range g.deps[n] {
			if err := visit(d, r.spec); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range g.roots {
		if err := visit(e, "the project"); err != nil {
			return nil, err
		}
	}
	var out []requirement
	for n, ms := range markers {
		r := g.reqs[n]
		if !uncond[n] {
			var parts []string
			for _, m := range dedupe(ms) {
				parts = append(parts, "("+m+")")
			}
			r.marker = strings.Join(parts, " or ")
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].spec < out[j].spec })
	return out, nil
}

// uvRequirements reads uv.lock: the project's dependencies and theirs,
// without dev groups or optional extras (uv sync --no-default-groups).
func uvRequirements(file string) ([]requirement, error) {
	var lock struct {
		Package []struct {
			Name         string
			Version      string
			Source       map[string]string
			Dependencies []struct {
				Name   string
				Marker string
			}
			Wheels []struct{ Hash string }
			Sdist  *struct{ Hash string }
		} `toml:"package"`
	}
	if _, err := toml.DecodeFile(file, &lock); err != nil {
		return nil, fmt.Errorf("it is not valid TOML (%v): run uv lock, commit uv.lock and push again", err)
	}
	g := lockGraph{reqs: map[string]requirement{}, deps: map[string][]edge{}}
	for _, p := range lock.Package {
		n := normalize(p.Name)
		var deps []edge
		for _, d := range p.Dependencies {
			deps = append(deps, edge{d.Name, d.Marker})
		}
		if p.Source["virtual"] == "." || p.Source["editable"] == "." {
			g.roots = append(g.roots, deps...)
			continue
		}
		r := requirement{spec: p.Name + "==" + p.Version}
		switch {
		case p.Source["registry"] != "":
		case p.Source["git"] != "":
			url, rev, _ := strings.Cut(p.Source["git"], "#")
			url, _, _ = strings.Cut(url, "?")
			r.spec = p.Name + " @ git+" + url
			if rev != "" {
				r.spec += "@" + rev
			}
		case p.Source["editable"] != "", p.Source["directory"] != "", p.Source["path"] != "", p.Source["virtual"] != "":
			r.spec = localPath(p.Source["editable"] + p.Source["directory"] + p.Source["path"] + p.Source["virtual"])
		case p.Source["url"] != "":
			r.spec = p.Name + " @ " + p.Source["url"]
		}
		for _, w := range p.Wheels {
			r.hashes = append(r.hashes, w.Hash)
		}
		if p.Sdist != nil && p.Sdist.Hash != "" {
			r.hashes = append(r.hashes, p.Sdist.Hash)
		}
		g.reqs[n] = r
		g.deps[n] = deps
	}
	if g.roots == nil {
		return nil, fmt.Errorf("it holds no package for the project itself (source = { virtual = \".\" } or { editable = \".\" }): run uv lock in the app's directory, commit uv.lock and push again")
	}
	return g.closure()
}

// poetryRequirements reads poetry.lock: the main group's dependencies
// (from pyproject.toml) and theirs (poetry sync --only main).
func poetryRequirements(dir string) ([]requirement, error) {
	var pyproject struct {
		Project struct {
			Dependencies []string
		}
		Tool struct {
			Poetry struct {
				Dependencies map[string]any
			}
		}
	}
	if _, err := toml.DecodeFile(filepath.Join(dir, "pyproject.toml"), &pyproject); err != nil {
		return nil, fmt.Errorf("poetry.lock needs the pyproject.toml beside it (%v): commit it and push again", err)
	}
	var lock struct {
		Package []struct {
			Name         string
			Version      string
			Source       map[string]string
			Dependencies map[string]any
			Files        []struct{ Hash string }
		} `toml:"package"`
	}
	if _, err := toml.DecodeFile(filepath.Join(dir, "poetry.lock"), &lock); err != nil {
		return nil, fmt.Errorf("it is not valid TOML (%v): run poetry lock, commit poetry.lock and push again", err)
	}
	g := lockGraph{reqs: map[string]requirement{}, deps: map[string][]edge{}}
	for name, spec := range pyproject.Tool.Poetry.Dependencies {
		if name != "python" {
			g.roots = append(g.roots, poetryEdges(name, spec)...)
		}
	}
	for _, d := range pyproject.Project.Dependencies {
		if m := pep508RE().FindStringSubmatch(d); m != nil {
			_, marker, _ := strings.Cut(d, ";")
			g.roots = append(g.roots, edge{m[1], strings.TrimSpace(marker)})
		}
	}
	for _, p := range lock.Package {
		n := normalize(p.Name)
		r := requirement{spec: p.Name + "==" + p.Version}
		switch p.Source["type"] {
		case "git":
			r.spec = p.Name + " @ git+" + p.Source["url"] + "@" + firstNonEmpty(p.Source["resolved_reference"], p.Source["reference"])
		case "directory", "file":
			r.spec = localPath(p.Source["url"])
		case "url":
			r.spec = p.Name + " @ " + p.Source["url"]
		}
		for _, f := range p.Files {
			r.hashes = append(r.hashes, f.Hash)
		}
		var deps []edge
		for dn, spec := range p.Dependencies {
			deps = append(deps, poetryEdges(dn, spec)...)
		}
		g.reqs[n], g.deps[n] = r, deps
	}
	return g.closure()
}

// poetryEdges reads a Poetry dependency: "^1.0", {version, markers,
// optional}, or a list of those.
func poetryEdges(name string, spec any) []edge {
	switch s := spec.(type) {
	case map[string]any:
		if opt, _ := s["optional"].(bool); opt {
			return nil
		}
		m, _ := s["markers"].(string)
		return []edge{{name, m}}
	case []any:
		var out []edge
		for _, x := range s {
			out = append(out, poetryEdges(name, x)...)
		}
		return out
	}
	return []edge{{name, ""}}
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
