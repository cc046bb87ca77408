package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// answer is what the fixture app says about itself: "GREETING from APP vN
// SLOT color=COLOR". The slot is left out: a restart moves the same release
// to the other slot.
type answer struct {
	greeting string
	release  string // "v3"
	color    string
}

func (w answer) String() string {
	return fmt.Sprintf("%s/%s/color=%s", w.greeting, w.release, w.color)
}

var answerRE = regexp.MustCompile(`^(\S+) from (\S+) (v\d+) (blue|green) color=(\S*)\n$`)

// parseAnswer reads an answer of app out of a body ("/" or "/slow" of the
// fixture; /slow says only "slow vN").
func parseAnswer(app, body string) (answer, bool) {
	if m := answerRE.FindStringSubmatch(body); m != nil && m[2] == app {
		return answer{greeting: m[1], release: m[3], color: m[5]}, true
	}
	return answer{}, false
}

// traffic keeps clients sending requests to an app through the proxy and
// checks every answer against the answers allowed at that moment.
type traffic struct {
	t   *testing.T
	a   *agentProc
	app string

	mu       sync.Mutex
	phases   [][]answer // allowed answers, one set per phase
	names    []string
	requests int
	slow     int
	failures []string

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startTraffic starts fast clients requesting / and slow ones requesting
// /slow (2 s each, so that some are in flight at every switch).
func startTraffic(t *testing.T, a *agentProc, app string, fast, slow int, live answer) *traffic {
	tr := &traffic{t: t, a: a, app: app, phases: [][]answer{{live}}, names: []string{"start"}}
	ctx, cancel := context.WithCancel(context.Background())
	tr.cancel = cancel
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for i := 0; i < fast; i++ {
		tr.wg.Add(1)
		go tr.loop(ctx, client, "/", 20*time.Millisecond)
	}
	for i := 0; i < slow; i++ {
		tr.wg.Add(1)
		go tr.loop(ctx, client, "/slow", 0)
	}
	t.Cleanup(tr.stop)
	return tr
}

func (tr *traffic) loop(ctx context.Context, client *http.Client, path string, pause time.Duration) {
	defer tr.wg.Done()
	for ctx.Err() == nil {
		tr.once(ctx, client, path)
		if pause > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
		}
	}
}

func (tr *traffic) once(ctx context.Context, client *http.Client, path string) {
	from := tr.phase()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+tr.a.httpAddr+path, nil)
	if err != nil {
		tr.fail("building a request: %v", err)
		return
	}
	req.Host = tr.app + ".localhost"
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return // the test stopped the clients
	}
	if err != nil {
		tr.fail("GET %s (%s into %q): %v", path, time.Since(start).Round(time.Millisecond), tr.name(from), err)
		return
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	to := tr.phase()
	body := string(b)
	switch {
	case err != nil && ctx.Err() == nil:
		tr.fail("GET %s: reading the answer: %v", path, err)
	case resp.StatusCode != http.StatusOK:
		tr.fail("GET %s during %q: %d %q", path, tr.name(from), resp.StatusCode, strings.TrimSpace(body))
	case path == "/slow":
		tr.checkSlow(body, from, to)
	default:
		got, ok := parseAnswer(tr.app, body)
		if !ok || !tr.allowed(from, to, func(w answer) bool { return w == got }) {
			tr.fail("GET / between %q and %q answered %q; allowed: %v", tr.name(from), tr.name(to), strings.TrimSpace(body), tr.allowedSets(from, to))
			return
		}
		tr.count(false)
	}
}

func (tr *traffic) checkSlow(body string, from, to int) {
	rel, ok := strings.CutPrefix(strings.TrimSpace(body), "slow ")
	if !ok || !tr.allowed(from, to, func(w answer) bool { return w.release == rel }) {
		tr.fail("GET /slow between %q and %q answered %q; allowed: %v", tr.name(from), tr.name(to), strings.TrimSpace(body), tr.allowedSets(from, to))
		return
	}
	tr.count(true)
}

func (tr *traffic) phase() int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.phases) - 1
}

func (tr *traffic) name(i int) string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.names[i]
}

// allowed reports whether match accepts an answer allowed in a phase from
// the request's start to its end.
func (tr *traffic) allowed(from, to int, match func(answer) bool) bool {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, set := range tr.phases[from : to+1] {
		for _, w := range set {
			if match(w) {
				return true
			}
		}
	}
	return false
}

func (tr *traffic) allowedSets(from, to int) [][]answer {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return append([][]answer(nil), tr.phases[from:to+1]...)
}

func (tr *traffic) count(slow bool) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.requests++
	if slow {
		tr.slow++
	}
}

func (tr *traffic) fail(format string, args ...any) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.requests++
	if len(tr.failures) < 20 {
		tr.failures = append(tr.failures, time.Now().Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

// during runs op, which takes the app from what is live to next: while it
// runs, answers may come from either; once it returns, only from next.
func (tr *traffic) during(what string, next answer, op func()) {
	tr.t.Helper()
	tr.mu.Lock()
	cur := tr.phases[len(tr.phases)-1]
	tr.phases = append(tr.phases, append(append([]answer(nil), cur...), next))
	tr.names = append(tr.names, what)
	tr.mu.Unlock()
	op()
	tr.expect(what+" (done)", next)
}

// expect says that from now on only live answers.
func (tr *traffic) expect(what string, live answer) {
	tr.mu.Lock()
	tr.phases = append(tr.phases, []answer{live})
	tr.names = append(tr.names, what)
	tr.mu.Unlock()
}

// check fails the test for every wrong answer so far and returns how many
// requests were answered.
func (tr *traffic) check() int {
	tr.t.Helper()
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for _, f := range tr.failures {
		tr.t.Errorf("a client saw: %s", f)
	}
	tr.failures = nil
	return tr.requests
}

func (tr *traffic) stop() {
	tr.cancel()
	tr.wg.Wait()
}

// appProcs lists the processes of app that an agent with dataDir started,
// by their environment: pid -> DYNO. Slugs are unpacked under the data dir,
// and HOME points into them.
func appProcs(t *testing.T, dataDir, app string) map[int]string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to look at processes: %v", err)
	}
	procs := map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		env := map[string]string{}
		for _, kv := range strings.Split(string(b), "\x00") {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		if env["PIER_APP"] == app && strings.HasPrefix(env["HOME"], dataDir+string(filepath.Separator)) {
			procs[pid] = env["DYNO"]
		}
	}
	return procs
}

// alive reports whether pid runs (and is not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(b), ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z'
}
