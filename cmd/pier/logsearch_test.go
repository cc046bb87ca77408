package main

import (
	"strings"
	"testing"
	"time"
)

// TestLogSearch: pier logs --grep, --since and --until search every line
// the agent keeps, not only the last -n.
func TestLogSearch(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	const app = "searched"
	a.mustPier("apps", "create", app)
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	a.get(app, "/needle-in-the-haystack")
	time.Sleep(1500 * time.Millisecond)
	mark := time.Now().UTC()
	time.Sleep(500 * time.Millisecond)
	for range 150 {
		a.get(app, "/hay")
	}
	waitFor(t, 10*time.Second, "the router lines", func() bool {
		return strings.Count(a.mustPier("logs", "-a", app, "-n", "200", "-p", "router"), "/hay") >= 150
	})
	if out := a.mustPier("logs", "-a", app, "-n", "100"); strings.Contains(out, "needle") {
		t.Fatalf("the needle is among the last 100 lines: the test proves nothing\n%s", out)
	}
	out := a.mustPier("logs", "-a", app, "-n", "10", "--grep", "needle-in")
	if n := strings.Count(out, "\n"); n != 1 || !strings.Contains(out, `path="/needle-in-the-haystack"`) {
		t.Errorf("logs --grep needle-in printed %d lines:\n%s", n, out)
	}
	since := a.mustPier("logs", "-a", app, "-n", "1000", "-p", "router", "--since", mark.Format(time.RFC3339Nano))
	if strings.Contains(since, "needle") || strings.Count(since, "/hay") != 150 {
		t.Errorf("logs --since the mark: needle %v, %d hay lines", strings.Contains(since, "needle"), strings.Count(since, "/hay"))
	}
	until := a.mustPier("logs", "-a", app, "-n", "1000", "-p", "router", "--until", mark.Format(time.RFC3339Nano))
	if !strings.Contains(until, "needle") || strings.Contains(until, "/hay") {
		t.Errorf("logs --until the mark:\n%s", until)
	}
	if r := a.pier("logs", "-a", app, "--since", "last tuesday"); r.code == 0 || !strings.Contains(r.stderr, "--since") {
		t.Errorf("logs --since 'last tuesday': exit %d, %q", r.code, r.stderr)
	}
	if r := a.pier("logs", "-a", app, "-f", "--until", "1h"); r.code == 0 || !strings.Contains(r.stderr, "--until") {
		t.Errorf("logs -f --until: exit %d, %q", r.code, r.stderr)
	}
}
