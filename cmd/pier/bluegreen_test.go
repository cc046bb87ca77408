package main

import (
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestBlueGreen proves zero-downtime deploys end to end: clients send
// requests the whole time while the app is deployed, reconfigured, rolled
// back (to the standby, then to an older release), scaled and restarted,
// and every answer must be a 200 from the release live at that moment.
// Then the bad cases, one app and one agent for all of them.
func TestBlueGreen(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=8s"}})
	const app = "bluegreen"
	a.mustPier("apps", "create", app)
	t.Cleanup(func() { a.pier("apps", "destroy", "-a", app, "--confirm", app) })
	a.mustPier("config", "set", "-a", app, "COLOR=red")
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	v1 := answer{"hello", "v1", "red"}
	if code, body, _ := a.get(app, "/"); code != 200 || body != "hello from bluegreen v1 blue color=red\n" {
		t.Fatalf("after the first push GET / = %d %q", code, body)
	}
	a.mustPier("scale", "-a", app, "worker=1")

	tr := startTraffic(t, a, app, 4, 2, v1)
	live := blueGreenHappyPath(t, a, repo, tr)
	if n := tr.check(); n < 100 {
		t.Errorf("the clients made only %d requests", n)
	} else {
		t.Logf("the clients made %d requests (%d slow ones), all answered by the live release", n, tr.slow)
	}
	if t.Failed() {
		t.FailNow()
	}
	blueGreenBadInput(t, a, repo, tr, live)
	tr.stop()
	tr.check()
	t.Run("crash after the switch rolls back", func(t *testing.T) { crashAfterSwitch(t, a, app) })
	t.Run("apps destroy leaves no process", func(t *testing.T) { destroyLeavesNothing(t, a, app) })
}

// blueGreenHappyPath runs the operations that must not fail a request and
// returns the answer live at the end.
func blueGreenHappyPath(t *testing.T, a *agentProc, repo *gitRepo, tr *traffic) answer {
	const app = "bluegreen"
	v2 := answer{"howdy", "v2", "red"}
	repo.rebuild("howdy")
	tr.during("deploy v2", v2, func() { mustPush(t, repo, "Released v2") })
	insts := psOf(t, a, app)
	if got := slotSummary(insts); got != "blue:v1:web.1 green:v2:web.1,worker.1" {
		t.Errorf("after v2 the instances are %s; want v1's web alone warm in blue (its worker stopped) and v2 in green", got)
	}
	wantStatuses(t, a, app, map[int]string{1: api.StatusStandby, 2: api.StatusLive})

	v3 := answer{"howdy", "v3", "blue"}
	tr.during("config set COLOR=blue", v3, func() { a.mustPier("config", "set", "-a", app, "COLOR=blue") })
	wantStatuses(t, a, app, map[int]string{1: api.StatusSuperseded, 2: api.StatusStandby, 3: api.StatusLive})
	if out := a.mustPier("releases", "-a", app); !regexp.MustCompile(`\* v3\s+live\s+Set COLOR\s+admin\s+\d+s ago\s+[0-9a-f]{7}\n`).MatchString(out) {
		t.Errorf("releases does not show v3 with its status, description, author, time and commit:\n%s", out)
	}

	standby := pidsOf(psOf(t, a, app), "green")
	tr.during("rollback to the standby", v2, func() { a.mustPier("rollback", "-a", app) })
	if got := pidsOf(psOf(t, a, app), "green"); got != standby {
		t.Errorf("rolling back to the standby started processes: green web was %s, now %s", standby, got)
	}
	wantStatuses(t, a, app, map[int]string{3: api.StatusStandby, 4: api.StatusLive})
	wantDescription(t, a, app, 4, "Rollback to v2")
	wantConfig(t, a, app, "COLOR", "red")

	v5 := answer{"hello", "v5", "red"}
	tr.during("rollback to v1", v5, func() { a.mustPier("rollback", "-a", app, "v1") })
	wantStatuses(t, a, app, map[int]string{1: api.StatusSuperseded, 4: api.StatusStandby, 5: api.StatusLive})
	wantDescription(t, a, app, 5, "Rollback to v1")
	if got, want := releaseOf(t, a, app, 5).SlugID, releaseOf(t, a, app, 1).SlugID; got != want {
		t.Errorf("the rollback to v1 runs slug %s, not v1's %s", got, want)
	}

	tr.during("scale web=3", v5, func() { a.mustPier("scale", "-a", app, "web=3") })
	if got := slotSummary(liveOnly(psOf(t, a, app), "blue")); got != "blue:v5:web.1,web.2,web.3,worker.1" {
		t.Errorf("after scale web=3 the live slot runs %s", got)
	}
	tr.during("scale web=1", v5, func() { a.mustPier("scale", "-a", app, "web=1") })
	if got := slotSummary(liveOnly(psOf(t, a, app), "blue")); got != "blue:v5:web.1,worker.1" {
		t.Errorf("after scale web=1 the live slot runs %s", got)
	}

	before := pidsOf(psOf(t, a, app), "blue")
	tr.during("restart", v5, func() { a.mustPier("restart", "-a", app) })
	insts = psOf(t, a, app)
	if got := slotSummary(insts); got != "green:v5:web.1,worker.1" {
		t.Errorf("after restart the instances are %s; want v5 in green alone", got)
	}
	if pidsOf(insts, "green") == before {
		t.Errorf("restart kept the same processes %s", before)
	}
	if out := a.mustPier("ps", "-a", app); !regexp.MustCompile(`web\.1\s+green\s+v5\s+up\s+\S+\s+127\.0\.0\.1:\d+`).MatchString(out) ||
		!regexp.MustCompile(`worker\.1\s+green\s+v5\s+up\s+\S+\s+-\n`).MatchString(out) {
		t.Errorf("ps does not show slot, release, state, uptime and address (for web instances only):\n%s", out)
	}

	// The clients' plain-HTTP GETs went through the proxy's event loops,
	// through every switch so far (the agent after the SIGHUP below counts
	// afresh).
	tr.mu.Lock()
	made := tr.requests
	tr.mu.Unlock()
	if looped := a.metric("pier_proxy_event_loop_requests_total"); looped < float64(made) {
		t.Errorf("the event loops forwarded %v requests of the clients' %d", looped, made)
	}
	tr.during("agent SIGHUP", v5, func() {
		old := a.pid()
		if now := a.reload(); now == old {
			t.Fatalf("after SIGHUP the agent's pid is still %d", now)
		}
	})
	// The new agent took the store and the scheduler over.
	if out := a.mustPier("ps", "-a", app); !strings.Contains(out, "web.1") {
		t.Errorf("ps after the SIGHUP restart:\n%s", out)
	}
	return v5
}

// blueGreenBadInput checks, with the clients still running, that what must
// fail fails clearly and leaves the live release serving.
func blueGreenBadInput(t *testing.T, a *agentProc, repo *gitRepo, tr *traffic, live answer) {
	const app = "bluegreen"
	t.Run("a failing release command", func(t *testing.T) {
		r := a.pier("config", "set", "-a", app, "RELEASE_FAIL=1")
		if r.code == 0 || !strings.Contains(r.stderr, "release command") || !strings.Contains(r.stderr, "status 3") {
			t.Errorf("config set with a failing release command: exit %d\n%s", r.code, r.stderr)
		}
		last := lastRelease(t, a, app)
		if last.Status != api.StatusFailed || !strings.Contains(last.Reason, "exited with status 3") {
			t.Errorf("the release is %s (%q), want failed with the exit status", last.Status, last.Reason)
		}
		wantUnset(t, a, app, "RELEASE_FAIL")
	})
	t.Run("a release that never gets healthy", func(t *testing.T) {
		r := a.pier("config", "set", "-a", app, "UNHEALTHY=1", "COLOR=green")
		if r.code == 0 || !strings.Contains(r.stderr, "health check failed") {
			t.Errorf("config set UNHEALTHY=1: exit %d\n%s", r.code, r.stderr)
		}
		last := lastRelease(t, a, app)
		if last.Status != api.StatusFailed || !strings.Contains(last.Reason, "health check") {
			t.Errorf("the release is %s (%q), want failed by its health check", last.Status, last.Reason)
		}
		wantUnset(t, a, app, "UNHEALTHY")
		wantConfig(t, a, app, "COLOR", "red")
		if got := slotSummary(psOf(t, a, app)); got != "green:v5:web.1,worker.1" {
			t.Errorf("after a failed deploy the instances are %s", got)
		}
	})
	t.Run("rollback to a release that does not exist", func(t *testing.T) {
		n := len(releasesOf(t, a, app))
		r := a.pier("rollback", "-a", app, "v99")
		if r.code == 0 || !strings.Contains(r.stderr, "no release v99") {
			t.Errorf("rollback v99: exit %d\n%s", r.code, r.stderr)
		}
		if got := len(releasesOf(t, a, app)); got != n {
			t.Errorf("a refused rollback made a release: %d releases, were %d", got, n)
		}
	})
	t.Run("bad scale", func(t *testing.T) {
		before := psOf(t, a, app)
		for _, tc := range []struct{ arg, want string }{
			{"clock=1", `no process type "clock"`},
			{"web=-1", "0 or more"},
			{"web=1000", "at most 100"},
			{"web", "TYPE=N"},
		} {
			r := a.pier("scale", "-a", app, tc.arg)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("scale %s: exit %d, stderr %q; want it refused with %q", tc.arg, r.code, r.stderr, tc.want)
			}
		}
		var info api.App
		a.pierJSON(&info, "apps", "info", "-a", app)
		if info.Formation["web"] != 1 || info.Formation["worker"] != 1 || len(info.Formation) != 2 {
			t.Errorf("refused scales changed the formation: %v", info.Formation)
		}
		if got := psOf(t, a, app); slotSummary(got) != slotSummary(before) || pidsOf(got, "green") != pidsOf(before, "green") {
			t.Errorf("refused scales changed the processes: %s, were %s", slotSummary(got), slotSummary(before))
		}
	})
	t.Run("concurrent pushes", func(t *testing.T) { concurrentPushes(t, a, repo, tr, live) })
}

// concurrentPushes pushes two checkouts at once: one deploys, the other
// waits, says so, and is refused because the branch moved meanwhile.
func concurrentPushes(t *testing.T, a *agentProc, repo *gitRepo, tr *traffic, live answer) {
	const app = "bluegreen"
	other := newPrebuiltRepo(t, "ciao")
	other.remote(a, app, a.token)
	repo.rebuild("hola")
	n := len(releasesOf(t, a, app))
	var allowed []answer
	for _, g := range []string{"hola", "ciao"} {
		for _, v := range []int{n + 1, n + 2} {
			allowed = append(allowed, answer{g, "v" + itoa(v), "red"})
		}
	}
	outs := make([]string, 2)
	errs := make([]error, 2)
	// Until the winner is known, the live release or either push may answer.
	tr.mu.Lock()
	tr.phases = append(tr.phases, append([]answer{live}, allowed...))
	tr.names = append(tr.names, "two pushes")
	tr.mu.Unlock()
	var wg sync.WaitGroup
	for i, r := range []*gitRepo{repo, other} {
		wg.Add(1)
		go func() { defer wg.Done(); outs[i], errs[i] = r.push("+main:main") }()
	}
	wg.Wait()
	// Both pushes were made against the same branch head. The one that had
	// to wait finds the branch moved and is refused clearly: git could not
	// update it anyway. The other deploys.
	var won, lost int = -1, -1
	for i := range outs {
		switch {
		case errs[i] == nil && strings.Contains(outs[i], "Released v"):
			won = i
		case errs[i] != nil && strings.Contains(outs[i], "Another deploy of bluegreen is in progress") &&
			strings.Contains(outs[i], "moved while this push waited"):
			lost = i
		}
	}
	if won < 0 || lost < 0 {
		t.Fatalf("two concurrent pushes: want one released and one refused after waiting:\n%v\n%s\n---\n%v\n%s", errs[0], outs[0], errs[1], outs[1])
	}
	last := lastRelease(t, a, app)
	if last.Version != n+1 || last.Status != api.StatusLive {
		t.Fatalf("after two pushes the newest release is v%d %s, want v%d live", last.Version, last.Status, n+1)
	}
	greeting := "hola"
	if last.Commit == strings.TrimSpace(other.git("rev-parse", "HEAD")) {
		greeting = "ciao"
	}
	want := answer{greeting, "v" + itoa(n+1), "red"}
	tr.expect("after two pushes", want)
	if _, body, _ := a.get(app, "/"); !strings.HasPrefix(body, greeting+" from bluegreen v"+itoa(n+1)) {
		t.Errorf("after two pushes GET / = %q, want %s", body, want)
	}
}

// crashAfterSwitch sets CRASH_AFTER: the new release passes its health
// check, goes live, crashes inside the watch window and is rolled back.
func crashAfterSwitch(t *testing.T, a *agentProc, app string) {
	before := lastRelease(t, a, app)
	_, liveBody, _ := a.get(app, "/")
	a.mustPier("config", "set", "-a", app, "CRASH_AFTER=3s")
	crashed := before.Version + 1
	var rel api.Release
	waitFor(t, 20*time.Second, "the crashing release to be rolled back", func() bool {
		rel = releaseOf(t, a, app, crashed)
		return rel.Status == api.StatusFailed
	})
	if !strings.Contains(rel.Reason, "rolled back automatically to v"+itoa(before.Version)) || !strings.Contains(rel.Reason, "crashed") {
		t.Errorf("v%d failed with %q, want the automatic rollback and the crash", crashed, rel.Reason)
	}
	if got := releaseOf(t, a, app, before.Version).Status; got != api.StatusLive {
		t.Errorf("v%d is %s after the rollback, want live", before.Version, got)
	}
	if out := a.mustPier("releases", "-a", app); !regexp.MustCompile(`v` + itoa(crashed) + `\s+failed\s+.*rolled back automatically`).MatchString(out) {
		t.Errorf("releases does not say why v%d failed:\n%s", crashed, out)
	}
	waitFor(t, 5*time.Second, "the rollback in the logs", func() bool {
		return strings.Contains(a.mustPier("logs", "-a", app, "-n", "300"), "rolled back automatically to v"+itoa(before.Version))
	})
	if code, body, _ := a.get(app, "/"); code != 200 || body != liveBody {
		t.Errorf("after the rollback GET / = %d %q, want %q", code, body, liveBody)
	}
	wantUnset(t, a, app, "CRASH_AFTER")
}

func destroyLeavesNothing(t *testing.T, a *agentProc, app string) {
	pids := map[int]string{}
	for _, in := range psOf(t, a, app) {
		pids[in.PID] = in.Name
	}
	for pid, dyno := range appProcs(t, a.dataDir, app) {
		pids[pid] = dyno
	}
	if len(pids) == 0 {
		t.Fatal("found no process of the app before destroying it")
	}
	a.mustPier("apps", "destroy", "-a", app, "--confirm", app)
	waitFor(t, 15*time.Second, "every process of the app to end", func() bool {
		for pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return len(appProcs(t, a.dataDir, app)) == 0
	})
}
