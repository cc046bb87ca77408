package ops

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// tool returns the path of an external program the test needs (from the
// Debian package pkg); it skips the test without it, or fails when
// PIER_REQUIRE names it.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but not found: %v", name, err)
		}
	}
	t.Skipf("%s not found (install Debian's %s package): %v", name, pkg, err)
	return ""
}

// TestPrometheusFilesPassPromtool: the scrape config and the rules are
// valid, and each alert fires (and stays quiet) as rules_test.yml says.
func TestPrometheusFilesPassPromtool(t *testing.T) {
	bin := tool(t, "promtool", "prometheus")
	dir := t.TempDir()
	for _, f := range []string{"prometheus.yml", "rules.yml", "rules_test.yml"} {
		b, err := os.ReadFile(filepath.Join("prometheus", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The config's credentials file is read beside it.
	if err := os.WriteFile(filepath.Join(dir, "pier.token"), []byte("a-read-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "rules.yml"},
		{"test", "rules", "rules_test.yml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestEveryAlertHasARunbook: each rule of rules.yml is an alert with a
// summary and a runbook, and is tested in rules_test.yml.
func TestEveryAlertHasARunbook(t *testing.T) {
	rules, err := os.ReadFile("prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile("prometheus/rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(rules), "- alert: ")[1:]
	if len(blocks) < 8 {
		t.Fatalf("%d alerts in rules.yml", len(blocks))
	}
	for _, b := range blocks {
		name, _, _ := strings.Cut(b, "\n")
		for _, want := range []string{"expr:", "summary:", "runbook:"} {
			if !strings.Contains(b, want) {
				t.Errorf("%s has no %s", name, want)
			}
		}
		if !strings.Contains(string(tests), "alertname: "+name+"\n") {
			t.Errorf("%s has no test in rules_test.yml", name)
		}
	}
}

// TestDashboardHasTheAppsPanels: the dashboard is valid JSON with the
// panels the issue asks for and deploy markers.
func TestDashboardHasTheAppsPanels(t *testing.T) {
	b, err := os.ReadFile("grafana/pier.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Annotations struct {
			List []struct {
				Expr string `json:"expr"`
			} `json:"list"`
		} `json:"annotations"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	var exprs []string
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for _, want := range []string{"pier_proxy_requests_total", `code="5xx"`, "histogram_quantile(0.95", "pier_instance_up", "pier_instance_memory_bytes"} {
		if !strings.Contains(all, want) {
			t.Errorf("no panel queries %s", want)
		}
	}
	if len(d.Annotations.List) == 0 || !strings.Contains(d.Annotations.List[0].Expr, "pier_deploys_total") {
		t.Errorf("no deploy markers: %+v", d.Annotations.List)
	}
}
