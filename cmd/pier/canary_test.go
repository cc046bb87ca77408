package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestCanary proves canary releases end to end on one agent and app, with
// the per-app setting that makes a push deploy as a canary (steps 10, 50,
// 100 every 3 s): a canary with no traffic waits as inconclusive; under
// continuous load a good release goes through its steps, each step's
// share of answers near its weight, and is promoted; a release failing one
// request in ten is aborted at its first step, no request failing after
// the abort, and so is a release whose p95 is 300 ms; an agent killed with SIGKILL mid-canary resumes the split and
// the step.
func TestCanary(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=2s"}})
	const app = "canary"
	a.mustPier("apps", "create", app)
	t.Cleanup(func() { a.pier("apps", "destroy", "-a", app, "--confirm", app) })
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	a.mustPier("settings", "set", "-a", app, "canary=on", "canary.steps=10,50,100", "canary.interval=3s")
	cl := api.NewClient("http://"+a.apiAddr, a.token)
	status := func() api.CanaryStatus {
		t.Helper()
		st, err := cl.Canary(context.Background(), app)
		if err != nil {
			t.Fatalf("canary status: %v", err)
		}
		return st
	}

	// Bad input changes nothing.
	for _, steps := range []string{"5,25,50", "50,25,100"} {
		if r := a.pier("canary", "start", "-a", app, "v1", "--steps", steps); r.code == 0 {
			t.Errorf("canary start --steps %s succeeded:\n%s", steps, r.stdout)
		}
	}

	live := 1
	ld := startLoad(t, a, app, 4)
	t.Run("a good release is promoted step by step", func(t *testing.T) {
		repo.rebuild("good")
		mustPush(t, repo, "started")
		canary := lastRelease(t, a, app).Version
		if r := a.pier("canary", "start", "-a", app, fmt.Sprintf("v%d", live)); r.code == 0 || !strings.Contains(r.stderr, "is running") {
			t.Errorf("a second canary was not refused clearly: %d %s", r.code, r.stderr)
		}
		weights := ld.follow(t, status, canary, 40*time.Second)
		for _, w := range []int{10, 50, 100} {
			n, on := ld.share(w)
			if n < 100 {
				t.Errorf("at %d%% the clients got only %d answers", w, n)
				continue
			}
			got := on * 100 / n
			t.Logf("at %d%%: v%d answered %d of %d (%d%%)", w, canary, on, n, got)
			if got < w-6 || got > w+6 {
				t.Errorf("at %d%% the canary answered %d%% of %d requests", w, got, n)
			}
		}
		if fmt.Sprint(weights) != "[10 50 100]" {
			t.Errorf("the canary went through the shares %v, want [10 50 100]", weights)
		}
		wantStatuses(t, a, app, map[int]string{canary: api.StatusLive, live: api.StatusStandby})
		if fails := ld.failures(); len(fails) > 0 {
			t.Errorf("%d requests failed during a good canary, first: %s", len(fails), fails[0])
		}
	})

	t.Run("no traffic waits as inconclusive", func(t *testing.T) {
		ld.pause()
		defer ld.resume()
		repo.rebuild("quiet")
		mustPush(t, repo, "Canary v3 started")
		time.Sleep(7 * time.Second) // two intervals
		st := status()
		if st.Canary == nil || st.Canary.Step != 0 || st.Canary.Last == nil || st.Canary.Last.Verdict != api.CheckInconclusive {
			t.Fatalf("after two intervals without traffic the canary is %+v, want at its first step, inconclusive", st.Canary)
		}
		if r := a.pier("rollback", "-a", app); r.code != 0 {
			t.Fatalf("rollback during a canary: %s%s", r.stdout, r.stderr)
		}
		if st := status(); st.Canary != nil || st.Live != 4 {
			t.Fatalf("after a rollback the canary is %+v and v%d live, want none and v4 (v1 again)", st.Canary, st.Live)
		}
		wantStatuses(t, a, app, map[int]string{3: api.StatusFailed})
		if r := releaseOf(t, a, app, 3); !strings.Contains(r.Reason, "canary aborted at 10%: a rollback began") {
			t.Errorf("v3's reason is %q, want the aborted canary", r.Reason)
		}
	})

	t.Run("a release failing 10% is aborted at its first step", func(t *testing.T) {
		ld.reset()
		repo.rebuildWith("bad", "-X main.failEvery=10")
		mustPush(t, repo, "started")
		canary := lastRelease(t, a, app).Version
		var ended time.Time
		waitFor(t, 30*time.Second, "the bad canary to end", func() bool {
			if st := status(); st.Canary == nil {
				ended = time.Now()
				return true
			}
			return false
		})
		r := releaseOf(t, a, app, canary)
		if r.Status != api.StatusFailed || !strings.Contains(r.Reason, "canary failed at 10%") || !strings.Contains(r.Reason, "5xx") {
			t.Errorf("v%d is %s (%q), want failed at 10%% with its numbers", canary, r.Status, r.Reason)
		}
		time.Sleep(2 * time.Second)
		before, after := ld.failedAround(ended)
		perInterval := ld.total() * 3 / int(time.Since(ld.since)/time.Second+1)
		t.Logf("%d requests failed before the abort, %d after; about %d requests an interval", before, after, perInterval)
		if after > 0 {
			t.Errorf("%d requests failed after the abort", after)
		}
		if before*20 >= perInterval {
			t.Errorf("%d requests failed before the abort, not fewer than 5%% of an interval's %d", before, perInterval)
		}
		if _, body, _ := a.get(app, "/"); !strings.HasPrefix(body, "hello from canary v4") {
			t.Errorf("after the abort GET / = %q, want the live release", body)
		}
	})

	t.Run("a slow release is aborted at its first step", func(t *testing.T) {
		ld.reset()
		repo.rebuildWith("slow", "-X main.delay=300ms")
		mustPush(t, repo, "started")
		canary := lastRelease(t, a, app).Version
		waitFor(t, 30*time.Second, "the slow canary to end", func() bool { return status().Canary == nil })
		r := releaseOf(t, a, app, canary)
		if r.Status != api.StatusFailed || !strings.Contains(r.Reason, "canary failed at 10%") || !strings.Contains(r.Reason, "p95 latency") {
			t.Errorf("v%d is %s (%q), want failed at 10%% on its p95", canary, r.Status, r.Reason)
		}
		if fails := ld.failures(); len(fails) > 0 {
			t.Errorf("%d requests failed during a slow canary, first: %s", len(fails), fails[0])
		}
	})

	t.Run("a release that crashes at its first step is aborted", func(t *testing.T) {
		ld.reset()
		repo.rebuildWith("crash", "-X main.crashAfter=3s")
		mustPush(t, repo, "started")
		canary := lastRelease(t, a, app).Version
		var ended time.Time
		waitFor(t, 30*time.Second, "the crashing canary to end", func() bool {
			if st := status(); st.Canary == nil {
				ended = time.Now()
				return true
			}
			return false
		})
		r := releaseOf(t, a, app, canary)
		if r.Status != api.StatusFailed || !strings.Contains(r.Reason, "canary") {
			t.Errorf("v%d is %s (%q), want a failed canary", canary, r.Status, r.Reason)
		}
		t.Logf("v%d: %s", canary, r.Reason)
		time.Sleep(2 * time.Second)
		before, after := ld.failedAround(ended)
		t.Logf("%d requests failed before the abort, %d after", before, after)
		if after > 0 {
			t.Errorf("%d requests failed after the abort", after)
		}
		if _, body, _ := a.get(app, "/"); !strings.HasPrefix(body, "hello from canary v4") {
			t.Errorf("after the abort GET / = %q, want the live release", body)
		}
	})

	t.Run("an A/B split holds its share, sticky, with no analysis", func(t *testing.T) {
		ld.reset()
		if r := a.pier("split", "-a", app, "--to", "v2", "--percent", "100"); r.code == 0 {
			t.Errorf("a split of 100%% was taken:\n%s", r.stdout)
		}
		out := a.mustPier("split", "-a", app, "--to", "v2", "--percent", "30", "--cookie")
		split := lastRelease(t, a, app)
		if !strings.Contains(out, fmt.Sprintf("v%d gets 30%% of visitors", split.Version)) || split.Description != "A/B split of v2" {
			t.Fatalf("pier split said %q and made v%d %q", out, split.Version, split.Description)
		}
		time.Sleep(300 * time.Millisecond)
		ld.setWeight(30)
		time.Sleep(4 * time.Second) // past an interval: no check moves it
		ld.setWeight(-1)
		n, on := ld.share(30)
		t.Logf("split at 30%%: v%d answered %d of %d", split.Version, on, n)
		if n < 100 || on*100/n < 24 || on*100/n > 36 {
			t.Errorf("the split's release answered %d of %d requests, want about 30%%", on, n)
		}
		st := status()
		if st.Canary == nil || st.Canary.State != api.CanarySplit || st.Canary.Weight() != 30 || st.Canary.Checks != 0 {
			t.Errorf("the split is %+v, want held at 30%% with no checks", st.Canary)
		}
		for bucket, want := range map[string]int{"5": split.Version, "95": st.Live} {
			for i := 0; i < 1000; i++ {
				req, _ := http.NewRequest(http.MethodGet, "http://"+a.httpAddr+"/", nil)
				req.Host = app + ".localhost"
				req.AddCookie(&http.Cookie{Name: "pier_canary", Value: fmt.Sprintf("%d.%s", split.Version, bucket)})
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if f := strings.Fields(string(b)); len(f) < 4 || releaseNum(f[3]) != want {
					t.Fatalf("request %d with bucket %s answered %q, want v%d", i, bucket, b, want)
				}
				if resp.Header.Get("Set-Cookie") != "" {
					t.Fatalf("a client with its cookie got Set-Cookie %q", resp.Header.Get("Set-Cookie"))
				}
			}
		}
		a.mustPier("split", "-a", app, "--off")
		wantStatuses(t, a, app, map[int]string{split.Version: api.StatusSuperseded})
		if fails := ld.failures(); len(fails) > 0 {
			t.Errorf("%d requests failed during the split, first: %s", len(fails), fails[0])
		}
	})

	t.Run("kill -9 mid-canary resumes the split and the step", func(t *testing.T) {
		ld.reset()
		repo.rebuild("after")
		mustPush(t, repo, "started")
		canary := lastRelease(t, a, app).Version
		waitFor(t, 30*time.Second, "the canary's second step", func() bool {
			st := status()
			return st.Canary != nil && st.Canary.Step == 1
		})
		ld.pause()
		a.kill()
		a.start()
		ld.resume()
		st := status()
		if st.Canary == nil || st.Canary.Release != canary || st.Canary.Step != 1 {
			t.Fatalf("after kill -9 the canary is %+v, want v%d at its second step", st.Canary, canary)
		}
		waitFor(t, 40*time.Second, "the canary to be promoted after the restart", func() bool {
			return status().Canary == nil
		})
		wantStatuses(t, a, app, map[int]string{canary: api.StatusLive})
		if fails := ld.failures(); len(fails) > 0 {
			t.Errorf("%d requests failed around the restart, first: %s", len(fails), fails[0])
		}
	})
	ld.stop()
}

// load keeps clients without cookies requesting / of an app, and records
// which release answered each request and the canary's weight meanwhile.
type load struct {
	a      *agentProc
	app    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	gate   sync.RWMutex // held for writing while the agent is down

	mu      sync.Mutex
	since   time.Time
	weight  int // the canary's share now, as followed; -1 while it changes
	answers []loadAnswer
}

type loadAnswer struct {
	at      time.Time
	weight  int
	release string
	status  int
	err     string
}

func startLoad(t *testing.T, a *agentProc, app string, clients int) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{a: a, app: app, cancel: cancel, since: time.Now(), weight: -1}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				l.gate.RLock()
				l.once(ctx, client)
				l.gate.RUnlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) once(ctx context.Context, client *http.Client) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+l.a.httpAddr+"/", nil)
	req.Host = l.app + ".localhost"
	l.mu.Lock()
	w := l.weight
	l.mu.Unlock()
	ans := loadAnswer{at: time.Now(), weight: w}
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		ans.err = err.Error()
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ans.status = resp.StatusCode
		if f := strings.Fields(string(b)); len(f) >= 4 {
			ans.release = f[3]
		}
	}
	l.mu.Lock()
	if l.weight != w { // the weight changed during the request: count it for neither
		ans.weight = -1
	}
	l.answers = append(l.answers, ans)
	l.mu.Unlock()
}

// follow polls the canary of release until it ends or timeout passes,
// setting the weight the answers are counted under; it returns the
// weights seen in order.
func (l *load) follow(t *testing.T, status func() api.CanaryStatus, release int, timeout time.Duration) []int {
	t.Helper()
	var seen []int
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		st := status()
		w := 100
		if st.Canary == nil {
			if st.Live != release {
				t.Fatalf("the canary v%d ended without being promoted (live is v%d)", release, st.Live)
			}
			l.setWeight(-1)
			return seen
		} else {
			w = st.Canary.Weight()
		}
		if len(seen) == 0 || seen[len(seen)-1] != w {
			seen = append(seen, w)
			l.setWeight(-1) // the answers around a change count for neither step
			time.Sleep(300 * time.Millisecond)
		}
		l.setWeight(w)
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the canary v%d did not end within %s; shares seen %v", release, timeout, seen)
	return nil
}

func (l *load) setWeight(w int) {
	l.mu.Lock()
	l.weight = w
	l.mu.Unlock()
}

// share is how many answers came at weight w and how many of those were
// the canary's: the newest release.
func (l *load) share(w int) (n, canary int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	counts := map[string]int{}
	for _, a := range l.answers {
		if a.weight == w && a.status == http.StatusOK {
			counts[a.release]++
			n++
		}
	}
	newest := ""
	for r := range counts {
		if releaseNum(r) > releaseNum(newest) {
			newest = r
		}
	}
	return n, counts[newest]
}

func releaseNum(r string) int {
	var n int
	fmt.Sscanf(strings.TrimPrefix(r, "v"), "%d", &n)
	return n
}

func (l *load) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, a := range l.answers {
		if a.status != http.StatusOK {
			out = append(out, fmt.Sprintf("%s: %d %s", a.at.Format("15:04:05.000"), a.status, a.err))
		}
	}
	return out
}

// failedAround counts the failed answers to requests sent before t and
// those sent after it (plus 200 ms for the routes to change).
func (l *load) failedAround(t time.Time) (before, after int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, a := range l.answers {
		switch {
		case a.status == http.StatusOK:
		case a.at.Before(t):
			before++
		case a.at.After(t.Add(200 * time.Millisecond)):
			after++
		}
	}
	return before, after
}

func (l *load) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.answers)
}

func (l *load) reset() {
	l.mu.Lock()
	l.answers, l.since, l.weight = nil, time.Now(), -1
	l.mu.Unlock()
}

func (l *load) pause()  { l.gate.Lock() }
func (l *load) resume() { l.gate.Unlock() }

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}
