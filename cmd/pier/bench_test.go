//go:build bench

package main

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/pierhq/pier/api"
)

// TestBenchDeploy times the deploy operations of one app under load, for
// BENCH_ROUNDS rounds (default 3): a push with a purged build cache, a push
// of a one-line change with a warm cache, a config change, a rollback to the
// standby and a rollback to an older release. Each is timed from the command
// until the proxy serves the new answer, while clients keep sending
// BENCH_RPS requests per second (default 40) through the proxy and count the
// ones that fail or get a wrong answer. It prints a table of medians; it
// asserts no speed. Run it with `make bench`, or:
//
//	go test -tags bench -run TestBenchDeploy -v ./cmd/pier
func TestBenchDeploy(t *testing.T) {
	needE2E(t)
	rounds := benchEnvInt(t, "BENCH_ROUNDS", 3)
	rps := benchEnvInt(t, "BENCH_RPS", 40)
	a := startAgent(t, agentOpts{})
	b := &deployBench{t: t, a: a, app: "bench", rps: rps, stats: map[string]*benchStat{}}

	a.mustPier("apps", "create", b.app)
	b.repo = newRepo(t, "hello")
	b.repo.remote(a, b.app, a.token)
	b.repo.setGreeting("initial")
	if out, err := b.repo.push("main"); err != nil {
		t.Fatalf("the first push: %v\n%s", err, out)
	}
	b.live = benchAnswer{greeting: "initial"}
	b.expectLive()

	for r := 1; r <= rounds; r++ {
		b.round(r)
	}
	fmt.Printf("\ndeploys of the hello fixture, %d rounds, under %d requests/s through the proxy:\n", rounds, rps)
	b.print()
}

// deployBench is the state of one TestBenchDeploy run.
type deployBench struct {
	t    *testing.T
	a    *agentProc
	app  string
	repo *gitRepo
	rps  int
	live benchAnswer // what the app answers now

	order []string
	stats map[string]*benchStat
}

// benchStat collects the runs of one operation.
type benchStat struct {
	secs                []float64
	non200, wrong, sent int
}

// round runs each operation once, ending where it began: the cold push's
// code with the config of the round's start.
func (b *deployBench) round(r int) {
	b.t.Logf("round %d", r)
	start := b.live
	b.mustPier("apps", "purge-cache", "-a", b.app)
	b.repo.setGreeting(fmt.Sprintf("cold%d", r))
	b.measure("push, cold build cache", benchAnswer{fmt.Sprintf("cold%d", r), start.color}, b.push)
	cold := b.info().LiveRelease

	b.repo.setGreeting(fmt.Sprintf("warm%d", r))
	b.measure("push, warm build cache", benchAnswer{fmt.Sprintf("warm%d", r), start.color}, b.push)
	warm := b.info().LiveRelease

	color := fmt.Sprintf("c%d", r)
	b.measure("config change", benchAnswer{fmt.Sprintf("warm%d", r), color}, func() (string, error) {
		return b.pierOut("config", "set", "-a", b.app, "COLOR="+color)
	})

	if sb := b.info().StandbyRelease; sb != warm {
		b.t.Fatalf("after the config change the standby is v%d, want v%d (the warm push)", sb, warm)
	}
	b.measure("rollback to the standby", benchAnswer{fmt.Sprintf("warm%d", r), start.color}, func() (string, error) {
		return b.pierOut("rollback", "-a", b.app, fmt.Sprintf("v%d", warm))
	})
	b.measure("rollback to an older release", benchAnswer{fmt.Sprintf("cold%d", r), start.color}, func() (string, error) {
		return b.pierOut("rollback", "-a", b.app, fmt.Sprintf("v%d", cold))
	})
}

// measure runs op, which takes the app from b.live to next, under load, and
// records the time from its start until the proxy served next.
func (b *deployBench) measure(name string, next benchAnswer, op func() (string, error)) {
	t := b.t
	t.Helper()
	l := startBenchLoad(b.a, b.app+".localhost", b.rps, b.live, next)
	defer l.stop()
	start := time.Now()
	out, err := op()
	l.opDone()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for deadline := time.Now().Add(time.Minute); l.result().firstNext.IsZero(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			res := l.stop()
			code, body, _, err := b.a.tryGet(b.app+".localhost", "/")
			t.Fatalf("%s succeeded, but a minute later the proxy still does not serve %s: GET / = %d %q %v\n"+
				"%d requests: %d non-200, %d wrong; first failures: %q\n%s said:\n%s",
				name, next, code, body, err, res.sent, res.non200, res.wrong, res.samples, name, out)
		}
	}
	res := l.stop()
	b.live = next
	b.expectLive()

	st := b.stats[name]
	if st == nil {
		st = &benchStat{}
		b.stats[name] = st
		b.order = append(b.order, name)
	}
	secs := res.firstNext.Sub(start).Seconds()
	st.secs = append(st.secs, secs)
	st.non200 += res.non200
	st.wrong += res.wrong
	st.sent += res.sent
	t.Logf("%-30s %6.2fs  %d sent, %d non-200, %d wrong", name, secs, res.sent, res.non200, res.wrong)
	for _, s := range res.samples {
		t.Logf("  %s", s)
	}
}

// expectLive fails the test unless the proxy serves b.live.
func (b *deployBench) expectLive() {
	b.t.Helper()
	code, body, _ := b.a.get(b.app, "/")
	if got, ok := parseBenchAnswer(b.app, body); code != 200 || !ok || got != b.live {
		b.t.Fatalf("GET / = %d %q, want %s", code, body, b.live)
	}
}

// push pushes the checkout and returns what git printed.
func (b *deployBench) push() (string, error) {
	out, err := b.repo.push("main")
	if err != nil {
		return out, fmt.Errorf("git push: %w\n%s", err, out)
	}
	return out, nil
}

// pierOut runs the CLI and returns what it printed.
func (b *deployBench) pierOut(args ...string) (string, error) {
	r := b.a.pier(args...)
	if r.code != 0 {
		return "", fmt.Errorf("pier %s: exit %d\n%s%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout + r.stderr, nil
}

func (b *deployBench) mustPier(args ...string) {
	b.t.Helper()
	if _, err := b.pierOut(args...); err != nil {
		b.t.Fatal(err)
	}
}

func (b *deployBench) info() api.App {
	b.t.Helper()
	var app api.App
	b.a.pierJSON(&app, "apps", "info", "-a", b.app)
	return app
}

// print writes the table of medians to stdout.
func (b *deployBench) print() {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "operation\tmedian s\tmin s\tmax s\tfailed\tnon-200\twrong\tsent\t")
	for _, name := range b.order {
		st := b.stats[name]
		s := slices.Clone(st.secs)
		slices.Sort(s)
		fmt.Fprintf(w, "%s\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%d\t\n",
			name, benchMedian(s), s[0], s[len(s)-1], st.non200+st.wrong, st.non200, st.wrong, st.sent)
	}
	w.Flush()
	fmt.Println("time: from the command's start until the proxy served the new answer;")
	fmt.Println("failed = non-200 (or no answer) + wrong answers, summed over the rounds.")
}

// benchMedian is the median of sorted xs.
func benchMedian(xs []float64) float64 {
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

func benchEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number of at least 1", name, s)
	}
	return n
}

// benchAnswer is the part of the fixture's answer that tells releases apart
// here: its greeting (the code) and COLOR (the config). The release number
// and slot are left out: a rollback to the standby keeps its processes.
type benchAnswer struct {
	greeting, color string
}

func (w benchAnswer) String() string { return w.greeting + " color=" + w.color }

var benchAnswerRE = regexp.MustCompile(`^(\S+) from (\S+) v\d+ (?:blue|green) color=(\S*)\n$`)

func parseBenchAnswer(app, body string) (benchAnswer, bool) {
	m := benchAnswerRE.FindStringSubmatch(body)
	if m == nil || m[2] != app {
		return benchAnswer{}, false
	}
	return benchAnswer{greeting: m[1], color: m[3]}, true
}

// benchLoad sends requests at a steady rate through the proxy while one
// operation takes the app from prev to next. An answer is wrong unless it is
// next, or prev to a request sent before the operation returned and before
// any client saw next.
type benchLoad struct {
	a          *agentProc
	host       string
	prev, next benchAnswer

	mu     sync.Mutex
	res    benchLoadResult
	doneAt time.Time // when the operation returned

	stopc    chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

type benchLoadResult struct {
	sent, non200, wrong int
	firstNext           time.Time // when an answer of next first arrived
	samples             []string  // the first few failures
}

const benchWorkers = 4

func startBenchLoad(a *agentProc, host string, rps int, prev, next benchAnswer) *benchLoad {
	l := &benchLoad{a: a, host: host, prev: prev, next: next, stopc: make(chan struct{})}
	every := time.Duration(float64(time.Second) * benchWorkers / float64(rps))
	for i := 0; i < benchWorkers; i++ {
		l.wg.Add(1)
		go l.loop(every)
	}
	return l
}

func (l *benchLoad) loop(every time.Duration) {
	defer l.wg.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-l.stopc:
			return
		case <-tick.C:
		}
		sent := time.Now()
		code, body, _, err := l.a.tryGet(l.host, "/")
		l.record(sent, code, body, err)
	}
}

func (l *benchLoad) record(sent time.Time, code int, body string, err error) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.res.sent++
	got, ok := parseBenchAnswer(strings.TrimSuffix(l.host, ".localhost"), body)
	switch {
	case err != nil || code != 200:
		l.res.non200++
		l.sample(now, "GET / = %d %q %v", code, strings.TrimSpace(body), err)
	case ok && got == l.next:
		if l.res.firstNext.IsZero() {
			l.res.firstNext = now
		}
	case ok && got == l.prev && l.prevAllowed(sent):
	default:
		l.res.wrong++
		l.sample(now, "GET / answered %q; want %s or %s", strings.TrimSpace(body), l.prev, l.next)
	}
}

// prevAllowed reports whether a request sent at sent may still get prev:
// the switch happens once, so not after the operation returned nor after
// a client saw next.
func (l *benchLoad) prevAllowed(sent time.Time) bool {
	if !l.doneAt.IsZero() && sent.After(l.doneAt) {
		return false
	}
	return l.res.firstNext.IsZero() || !sent.After(l.res.firstNext)
}

func (l *benchLoad) sample(at time.Time, format string, args ...any) {
	if len(l.res.samples) < 5 {
		l.res.samples = append(l.res.samples, at.Format("15:04:05.000 ")+fmt.Sprintf(format, args...))
	}
}

func (l *benchLoad) opDone() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.doneAt = time.Now()
}

func (l *benchLoad) result() benchLoadResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.res
}

// stop ends the clients, waits for their requests in flight and returns
// the counts. It may be called more than once.
func (l *benchLoad) stop() benchLoadResult {
	l.stopOnce.Do(func() { close(l.stopc) })
	l.wg.Wait()
	return l.result()
}
