package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestWorkflowsLint runs actionlint over every workflow in .github/workflows,
// with shellcheck on the shell of their run steps. scripts/install-test-deps
// installs both; CI requires them (PIER_REQUIRE).
func TestWorkflowsLint(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows found (%v)", err)
	}
	sc := requireBinary(t, "shellcheck")
	al := goTool(t, "actionlint")
	cmd := exec.Command(al, append([]string{"-shellcheck", sc, "-no-color"}, files...)...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("actionlint: %v\n%s", err, out)
	}
	t.Logf("actionlint and shellcheck passed %d workflows: %s", len(files), strings.Join(baseNames(files), ", "))
}

// goTool finds a tool installed with `go install`: on PATH, else in
// $(go env GOPATH)/bin; missing, it skips, or fails when PIER_REQUIRE names it.
func goTool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if gp, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(gp)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return requireBinary(t, name)
}

func baseNames(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = filepath.Base(p)
	}
	return out
}
