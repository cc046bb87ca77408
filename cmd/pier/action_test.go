package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// action is the part of .github/actions/deploy/action.yml the tests read.
type action struct {
	Inputs map[string]struct {
		Default  string `yaml:"default"`
		Required bool   `yaml:"required"`
	} `yaml:"inputs"`
	Outputs map[string]struct {
		Value string `yaml:"value"`
	} `yaml:"outputs"`
	Runs struct {
		Using string       `yaml:"using"`
		Steps []actionStep `yaml:"steps"`
	} `yaml:"runs"`
}

type actionStep struct {
	ID    string            `yaml:"id"`
	Name  string            `yaml:"name"`
	Shell string            `yaml:"shell"`
	Run   string            `yaml:"run"`
	Uses  string            `yaml:"uses"`
	Env   map[string]string `yaml:"env"`
}

const actionPath = "../../.github/actions/deploy/action.yml"

func readAction(t *testing.T) action {
	t.Helper()
	b, err := os.ReadFile(actionPath)
	if err != nil {
		t.Fatal(err)
	}
	var a action
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s: %v", actionPath, err)
	}
	return a
}

func (a action) step(t *testing.T, id string) actionStep {
	t.Helper()
	for _, s := range a.Runs.Steps {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("%s has no step with id %s", actionPath, id)
	return actionStep{}
}

var inputExpr = regexp.MustCompile(`^\$\{\{ inputs\.([a-z-]+) \}\}$`)

// input resolves "${{ inputs.NAME }}" as the runner does: the value given,
// else the input's default.
func (a action) input(t *testing.T, expr string, given map[string]string) string {
	t.Helper()
	m := inputExpr.FindStringSubmatch(expr)
	if m == nil {
		t.Fatalf("%s: env value %q is not ${{ inputs.NAME }}", actionPath, expr)
	}
	in, ok := a.Inputs[m[1]]
	if !ok {
		t.Fatalf("%s: env names input %q, which it does not declare", actionPath, m[1])
	}
	if v, ok := given[m[1]]; ok {
		return v
	}
	return in.Default
}

// TestActionShape: the action is composite, every input reaches the deploy
// step (inputs go through env, never into the script's text, where a
// value could inject shell), every output is the deploy step's, and its
// shell passes shellcheck.
func TestActionShape(t *testing.T) {
	a := readAction(t)
	if a.Runs.Using != "composite" {
		t.Errorf("runs.using = %q, want composite", a.Runs.Using)
	}
	deploy := a.step(t, "deploy")
	used := map[string]bool{}
	for _, expr := range deploy.Env {
		if m := inputExpr.FindStringSubmatch(expr); m != nil {
			used[m[1]] = true
		}
	}
	for name := range a.Inputs {
		if !used[name] {
			t.Errorf("input %s never reaches the deploy step", name)
		}
	}
	for _, s := range a.Runs.Steps {
		if strings.Contains(s.Run, "${{") {
			t.Errorf("step %q puts an expression into its script: pass it through env", s.Name)
		}
	}
	for name, o := range a.Outputs {
		if o.Value != "${{ steps.deploy.outputs."+name+" }}" {
			t.Errorf("output %s = %q, want the deploy step's", name, o.Value)
		}
	}
	sc := requireBinary(t, "shellcheck")
	for i, s := range a.Runs.Steps {
		if s.Run == "" {
			continue
		}
		f := filepath.Join(t.TempDir(), "step.sh")
		if err := os.WriteFile(f, []byte("#!/usr/bin/env bash\n"+s.Run), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := runOut(sc, "-s", "bash", f); err != nil {
			t.Errorf("shellcheck of step %d (%s): %v\n%s", i, s.Name, err, out)
		}
	}
}

// runOut runs a command and returns its combined output.
func runOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
