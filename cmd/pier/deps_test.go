package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestImportRules keeps the package arrows of DESIGN.md §2 true: each pier
// package may import only the pier packages listed for it.
func TestImportRules(t *testing.T) {
	const mod = "github.com/pierhq/pier"
	allowed := map[string][]string{
		"cmd/pier":        {"cli"},
		"cli":             {"api", "agent", "proxy"},
		"api":             {},
		"agent":           {"api", "agent/store", "agent/gitserver", "scheduler", "scheduler/local", "scheduler/nomad", "buildpacks", "proxy", "procfile", "sandbox", "internal/untar"},
		"agent/store":     {"api"},
		"agent/gitserver": {},
		"scheduler":       {"procfile", "sandbox"},
		"scheduler/local": {"scheduler", "procfile", "sandbox", "internal/untar"},
		"scheduler/nomad": {"scheduler", "procfile", "sandbox"},
		"buildpacks":      {"procfile", "sandbox", "internal/untar"},
		"sandbox":         {},
		"proxy":           {},
		"procfile":        {},
		"terraform":       {},
		"internal/untar":  {},
	}
	// These use the standard library alone.
	stdlibOnly := map[string]bool{"internal/untar": true}
	out, err := exec.Command("go", "list", "-json", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, mod), "/")
		rules, ok := ruleFor(allowed, rel)
		if !ok {
			t.Errorf("package %s has no import rule; add it to DESIGN.md §2 and this test", rel)
			continue
		}
		for _, imp := range p.Imports {
			if first, _, _ := strings.Cut(imp, "/"); stdlibOnly[rel] && strings.Contains(first, ".") {
				t.Errorf("%s imports %s, but it may use the standard library only", rel, imp)
			}
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, mod+"/")
			if !importAllowed(rel, dep, rules) {
				t.Errorf("%s imports %s, which DESIGN.md §2 does not allow", rel, dep)
			}
		}
	}
}

// ruleFor finds the rule of a package: its own, or that of the nearest
// parent (buildpacks/go follows buildpacks).
func ruleFor(allowed map[string][]string, rel string) ([]string, bool) {
	for p := rel; p != ""; {
		if r, ok := allowed[p]; ok {
			return r, true
		}
		i := strings.LastIndex(p, "/")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return nil, false
}

func importAllowed(pkg, dep string, rules []string) bool {
	for _, r := range rules {
		if dep == r || strings.HasPrefix(dep, r+"/") && !strings.HasPrefix(r, "agent") {
			return true
		}
	}
	// Within one tree (buildpacks, buildpacks/golang, buildpacks/internal/x)
	// packages use each other freely; the agent's sub-packages are ruled one
	// by one.
	top := func(p string) string { t, _, _ := strings.Cut(p, "/"); return t }
	return top(pkg) == top(dep) && top(pkg) != "agent"
}
