package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestKillAgentMidDeploy kills the agent with SIGKILL while a deploy runs
// its release command: the next agent re-adopts the live release without
// restarting it, restores its routes at once, ends the orphaned release
// command and marks the interrupted release failed.
func TestKillAgentMidDeploy(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	const app = "killdeploy"
	a.mustPier("apps", "create", app)
	t.Cleanup(func() {
		if a.cmd != nil {
			a.pier("apps", "destroy", "-a", app, "--confirm", app)
		}
	})
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	liveBody := "hello from killdeploy v1 blue color=\n"
	if code, body, _ := a.get(app, "/"); code != 200 || body != liveBody {
		t.Fatalf("GET / = %d %q", code, body)
	}
	before := psOf(t, a, app)

	done := make(chan cliResult, 1)
	go func() { done <- a.pier("config", "set", "-a", app, "RELEASE_SLEEP=30") }()
	waitFor(t, 30*time.Second, "the release command to run", func() bool {
		for _, dyno := range appProcs(t, a.dataDir, app) {
			if strings.HasPrefix(dyno, "run.") {
				return true
			}
		}
		return false
	})
	if r := lastRelease(t, a, app); r.Version != 2 || r.Status != api.StatusPending {
		t.Fatalf("during the deploy the newest release is v%d %s, want v2 pending", r.Version, r.Status)
	}
	a.kill()
	if r := <-done; r.code == 0 {
		t.Errorf("config set succeeded though the agent was killed:\n%s", r.stdout)
	}

	a.start()
	healthy := time.Now()
	var code int
	var body string
	for time.Since(healthy) < 10*time.Second {
		var err error
		if code, body, _, err = a.tryGet(app+".localhost", "/"); err == nil && code == 200 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	restored := time.Since(healthy)
	if code != 200 || body != liveBody {
		t.Fatalf("after the restart GET / = %d %q, want %q", code, body, liveBody)
	}
	if restored > time.Second {
		t.Errorf("the routes came back %s after the agent's /healthz answered, want within 1s", restored)
	}
	t.Logf("routes back %s after the new agent's /healthz", restored.Round(time.Millisecond))

	after := psOf(t, a, app)
	if slotSummary(after) != "blue:v1:web.1" || pidsOf(after, "blue") != pidsOf(before, "blue") {
		t.Errorf("after the restart the instances are %s (%s), want v1's web.1 as before (%s)",
			slotSummary(after), pidsOf(after, "blue"), pidsOf(before, "blue"))
	}
	if n := countComm(appProcs(t, a.dataDir, app), "bluegreen"); n != 1 {
		t.Errorf("%d processes of the app run, want the one web.1", n)
	}
	rel := releaseOf(t, a, app, 2)
	if rel.Status != api.StatusFailed || !strings.Contains(rel.Reason, "interrupted") {
		t.Errorf("the interrupted release is %s (%q), want failed as interrupted", rel.Status, rel.Reason)
	}
	if got := releaseOf(t, a, app, 1).Status; got != api.StatusLive {
		t.Errorf("v1 is %s, want live", got)
	}
	wantUnset(t, a, app, "RELEASE_SLEEP")
	// Nobody waits for the release command the killed agent ran: the next
	// agent ends it.
	waitFor(t, 5*time.Second, "the interrupted release command to be ended", func() bool {
		for pid, dyno := range appProcs(t, a.dataDir, app) {
			if strings.HasPrefix(dyno, "run.") && alive(pid) {
				return false
			}
		}
		return true
	})

	// The app is not left locked: the next change deploys.
	a.mustPier("config", "set", "-a", app, "COLOR=teal")
	if _, body, _ := a.get(app, "/"); body != "hello from killdeploy v3 green color=teal\n" {
		t.Errorf("after the next config change GET / = %q", body)
	}
}

// countComm counts the processes among procs whose command name is comm.
func countComm(procs map[int]string, comm string) int {
	n := 0
	for pid := range procs {
		b, err := os.ReadFile("/proc/" + itoa(pid) + "/comm")
		if err == nil && strings.TrimSpace(string(b)) == comm && alive(pid) {
			n++
		}
	}
	return n
}
