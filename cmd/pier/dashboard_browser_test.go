package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/pierhq/pier/api"
)

// TestDashboardBrowser is a person at the dashboard in the real Chromium:
// they sign in with a token, find the app a push deployed, open the diff
// of an older release against the live one and roll back with a click
// while a client keeps requesting the app (not one request fails), then
// set a config var. Screenshots of each step go to
// testdata/artifacts/dashboard (ignored by git).
func TestDashboardBrowser(t *testing.T) {
	needE2E(t)
	chromium := requireBinary(t, "chromium")
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "shop")
	repo := newPrebuiltRepo(t, "one")
	repo.remote(a, "shop", a.token)
	mustPush(t, repo, "Released v1")
	a.mustPier("config", "set", "-a", "shop", "ADDED_LATER=yes") // v2
	repo.rebuild("two")
	mustPush(t, repo, "Released v3")
	v1, v3 := releaseOf(t, a, "shop", 1), releaseOf(t, a, "shop", 3)

	load := startSteadyLoad(t, a, "shop")
	defer load.stop()

	b := newBrowser(t, chromium)
	base := "http://" + a.apiAddr
	var text string

	// Sign in with the admin token, and see the app.
	b.run("sign in",
		chromedp.Navigate(base+"/dashboard/"),
		chromedp.WaitVisible(chromedp.CSS(`#token`)),
		chromedp.SendKeys(chromedp.CSS(`#token`), a.token),
		chromedp.Click(chromedp.CSS(`#signin`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-app="shop"]`)),
	)
	text = b.text(chromedp.CSS(`tr[data-app="shop"]`))
	b.screenshot("1-apps")
	if !strings.Contains(text, "v3") || !strings.Contains(text, "running") || !strings.Contains(text, "1/1") {
		t.Errorf("the apps page's row of shop = %q, want v3, running, 1/1", text)
	}

	// Open the app, and the diff of v1 against the live v3.
	b.run("open the rollback diff",
		chromedp.Click(chromedp.CSS(`tr[data-app="shop"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-version="1"] a.rollback`)),
		chromedp.Click(chromedp.CSS(`tr[data-version="1"] a.rollback`)),
		chromedp.WaitVisible(chromedp.CSS(`#diff`)),
	)
	text = b.text(chromedp.CSS(`main`))
	b.screenshot("2-diff")
	for _, want := range []string{v3.Commit, v1.Commit, "ADDED_LATER", "Roll back to v1"} {
		if !strings.Contains(text, want) {
			t.Errorf("the diff page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "yes") {
		t.Errorf("the diff page shows a config value:\n%s", text)
	}

	// Roll back with a click: the page then shows the new live release.
	before := load.count()
	b.run("roll back",
		chromedp.Click(chromedp.CSS(`#confirm-rollback`)),
		chromedp.WaitVisible(chromedp.CSS(`#releases`)),
	)
	text = b.text(chromedp.CSS(`#live`))
	b.screenshot("3-rolled-back")
	if text != "v4" {
		t.Errorf("after the rollback the page shows live %q, want v4", text)
	}
	waitFor(t, 10*time.Second, "the app to answer as v1's build", func() bool {
		_, body, _ := a.get("shop", "/")
		return strings.HasPrefix(body, "one ")
	})
	if rel := releaseOf(t, a, "shop", 4); !strings.Contains(rel.Description, "Rollback to v1") || rel.CreatedBy != "admin" {
		t.Errorf("v4 = %+v, want a rollback to v1 by admin", rel)
	}

	// Set a config var: a new release, the value masked on the page.
	b.run("set a config var",
		chromedp.SendKeys(chromedp.CSS(`#config-set input[name="key"]`), "FROM_BROWSER"),
		chromedp.SendKeys(chromedp.CSS(`#config-set input[name="value"]`), "s3cret-value"),
		chromedp.Submit(chromedp.CSS(`#config-set input[name="key"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="FROM_BROWSER"]`)),
	)
	text = b.text(chromedp.CSS(`main`))
	b.screenshot("4-config")
	if strings.Contains(text, "s3cret-value") {
		t.Errorf("the app page shows a config value unrevealed")
	}
	wantConfig(t, a, "shop", "FROM_BROWSER", "s3cret-value")
	b.run("reveal the value",
		chromedp.Click(chromedp.CSS(`tr[data-key="FROM_BROWSER"] a`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-key="FROM_BROWSER"] code.value`)),
	)
	text = b.text(chromedp.CSS(`tr[data-key="FROM_BROWSER"] code.value`))
	if text != "s3cret-value" {
		t.Errorf("the revealed value = %q", text)
	}

	// The load client's requests show in the graphs at once, with a
	// deploy marker for the release the config change made (v5), and in
	// the apps page's sparkline.
	b.run("see the graphs",
		chromedp.Navigate(base+"/dashboard/apps/shop"),
		chromedp.WaitVisible(chromedp.CSS(`#chart-requests svg`)),
	)
	b.screenshot("5-graphs")
	if top := b.attr(`#chart-requests`, "data-max"); !nonZeroLabel(top) || b.attr(`#chart-requests`, "data-points") == "0" {
		t.Errorf("the requests graph's top is %q over %s points, want traffic", top, b.attr(`#chart-requests`, "data-points"))
	}
	if text = b.text(chromedp.CSS(`#chart-requests .markers`)); !strings.Contains(text, "v5") {
		t.Errorf("the requests graph's deploy markers = %q, want v5", text)
	}
	if top := b.attr(`#chart-latency`, "data-max"); !nonZeroLabel(top) {
		t.Errorf("the latency graph's top is %q", top)
	}
	b.run("see the sparklines",
		chromedp.Navigate(base+"/dashboard/"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-app="shop"] td.rate svg.spark`)),
	)
	if top := b.attr(`tr[data-app="shop"] td.rate svg.spark`, "data-max"); !nonZeroLabel(top) {
		t.Errorf("shop's request rate sparkline tops at %q", top)
	}

	load.stop()
	if n, failed := load.count(), load.failures(); n-before < 5 || len(failed) > 0 {
		t.Errorf("the load client: %d requests after the rollback began, %d failed: %v", n-before, len(failed), failed)
	}
	t.Logf("the load client sent %d requests, %d of them from the rollback on; none failed", load.count(), load.count()-before)

	// Logs: the router's line of a request, by process and search.
	a.get("shop", "/from-the-browser-test")
	waitFor(t, 10*time.Second, "the router's line of the request", func() bool {
		return strings.Contains(a.mustPier("logs", "-a", "shop", "-p", "router", "--grep", "from-the-browser-test"), "from-the-browser-test")
	})
	b.run("search the logs",
		chromedp.Navigate(base+"/dashboard/apps/shop/logs"),
		chromedp.WaitVisible(chromedp.CSS(`#logs-filter`)),
		chromedp.SendKeys(chromedp.CSS(`#logs-filter input[name="process"]`), "router"),
		chromedp.SendKeys(chromedp.CSS(`#logs-filter input[name="grep"]`), "from-the-browser-test"),
		chromedp.Submit(chromedp.CSS(`#logs-filter input[name="grep"]`)),
	)
	// The page before the search shows every line; the search's answer
	// shows the one line of the request.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#log`)))
		cancel()
		text = strings.TrimSpace(text)
		if strings.Contains(text, "from-the-browser-test") && !strings.Contains(text, "\n") || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.screenshot("6-logs")
	if !strings.Contains(text, "from-the-browser-test") || !strings.Contains(text, "app[router]") || strings.Contains(text, "\n") {
		t.Errorf("the logs searched for the request show:\n%s", text)
	}

	// Maintenance on with a click: the app answers 503; off again.
	b.run("turn maintenance on",
		chromedp.Navigate(base+"/dashboard/apps/shop"),
		chromedp.Click(chromedp.CSS(`#maintenance button`)),
		chromedp.WaitVisible(chromedp.CSS(`#status.maintenance`)),
	)
	waitFor(t, 10*time.Second, "the maintenance page", func() bool {
		code, _, _ := a.get("shop", "/")
		return code == http.StatusServiceUnavailable
	})
	b.run("turn maintenance off",
		chromedp.Click(chromedp.CSS(`#maintenance button`)),
		chromedp.WaitVisible(chromedp.CSS(`#status.running`)),
	)
	waitFor(t, 10*time.Second, "the app again", func() bool {
		code, _, _ := a.get("shop", "/")
		return code == http.StatusOK
	})

	// At a phone's width the pages fit: nothing scrolls sideways.
	for _, page := range []string{"/dashboard/", "/dashboard/apps/shop"} {
		b.run("open "+page+" at a phone's width",
			chromedp.EmulateViewport(390, 844),
			chromedp.Navigate(base+page),
			chromedp.WaitVisible(chromedp.CSS(`main`)),
		)
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		over, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth - window.innerWidth`))
		cancel()
		if err != nil || over > 0 {
			t.Errorf("%s at 390 px wide is %d px too wide (%v)", page, over, err)
		}
	}
	b.screenshot("7-phone")

	// With the keyboard alone: the first Tab reaches the skip link, Tabs
	// go on to a rollback button, each focus drawn with a ring, and Enter
	// opens the diff.
	b.run("open the app page for the keyboard",
		chromedp.EmulateViewport(1200, 1000),
		chromedp.Navigate(base+"/dashboard/apps/shop"),
		chromedp.WaitVisible(chromedp.CSS(`main`)),
		chromedp.KeyEvent(kb.Tab),
	)
	if got := b.eval(`document.activeElement.textContent`); got != "Skip to content" {
		t.Errorf("the first Tab focuses %q, want the skip link", got)
	}
	reached := false
	for range 60 {
		b.run("press Tab", chromedp.KeyEvent(kb.Tab))
		if b.eval(`document.activeElement.matches("a.rollback") ? "yes" : ""`) == "yes" {
			reached = true
			break
		}
	}
	if !reached {
		t.Fatal("60 Tabs from the top of the app page never reached a rollback button")
	}
	if ring := b.eval(`getComputedStyle(document.activeElement).outlineStyle`); ring == "none" || ring == "" {
		t.Errorf("the focused rollback button has no focus ring (outline-style %q)", ring)
	}
	b.run("open the diff with Enter",
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS(`#diff`)),
	)

	// Follow a push live: the view opens while the push runs (its release
	// command sleeps), shows the build's lines, then that it is live.
	a.mustPier("config", "set", "-a", "shop", "RELEASE_SLEEP=3") // v6
	repo.rebuild("three")
	pushed := make(chan string, 1)
	go func() {
		out, err := repo.push("main")
		pushed <- fmt.Sprintf("%s (%v)", out, err)
	}()
	waitFor(t, 2*time.Minute, "the push to make v7", func() bool {
		var rels []api.Release
		a.pierJSON(&rels, "releases", "-a", "shop")
		return len(rels) > 0 && rels[0].Version == 7
	})
	b.run("follow the deploy",
		chromedp.EmulateViewport(1200, 1000),
		chromedp.Navigate(base+"/dashboard/apps/shop/deploy"),
		chromedp.WaitVisible(chromedp.CSS(`#deploy-result`)),
	)
	b.screenshot("8-deploy")
	text = b.text(chromedp.CSS(`#deploy-log`))
	building, released := strings.Index(text, "-----> Building shop"), strings.Index(text, "-----> Released v7")
	if building < 0 || released < building || !strings.Contains(text, "Running release command") {
		t.Errorf("the live deploy view shows:\n%s", text)
	}
	if got := b.text(chromedp.CSS(`#deploy-result`)); got != "v7 is live" {
		t.Errorf("the live deploy view ends with %q, want v7 is live", got)
	}
	if out := <-pushed; !strings.Contains(out, "Released v7") {
		t.Errorf("git push: %s", out)
	}

	// A var whose value alone changed shows in the diff by its name, never
	// its value: the agent compares the values.
	a.mustPier("config", "set", "-a", "shop", "ROTATED=first-value-zq")  // v8
	a.mustPier("config", "set", "-a", "shop", "ROTATED=second-value-zq") // v9
	b.run("open the diff of a changed value",
		chromedp.Navigate(base+"/dashboard/apps/shop/rollback/v8"),
		chromedp.WaitVisible(chromedp.CSS(`#keys`)),
	)
	if text = b.text(chromedp.CSS(`#keys`)); !strings.Contains(text, "ROTATED (another value)") || strings.Contains(text, "value-zq") {
		t.Errorf("the diff's config vars of v8 against v9 = %q, want ROTATED changed, no value", text)
	}
}

// browser is a headless Chromium driven by chromedp.
type browser struct {
	t   *testing.T
	ctx context.Context
	dir string // where screenshots go
}

func newBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1200, 1000),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(bctx); err != nil { // starts the browser, for as long as the test
		t.Fatalf("starting Chromium: %v", err)
	}
	dir := filepath.Join("testdata", "artifacts", "dashboard")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &browser{t: t, ctx: bctx, dir: dir}
}

// run does a step's actions, each step within 60 s.
func (b *browser) run(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(step, " ", "-"))
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		page, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		b.t.Logf("the page showed:\n%s", page)
		b.t.Fatalf("%s: %v", step, err)
	}
}

// text is what the page shows in the element sel.
func (b *browser) text(sel chromedp.CSS) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		b.t.Fatalf("reading %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval is the string a script evaluates to in the page.
func (b *browser) eval(script string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](script))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", script, err)
	}
	return s
}

// attr is the attribute name of the element sel.
func (b *browser) attr(sel chromedp.CSS, name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.AttributeValue(sel, name))
	if err != nil || !v.Exists {
		b.t.Fatalf("reading %s's %s: %v", sel, name, err)
	}
	return v.Value
}

// nonZeroLabel reports whether a graph's label ("12.5/s", "3 ms") starts
// with a number above zero.
func nonZeroLabel(label string) bool {
	num, _, _ := strings.Cut(label, " ")
	f, err := strconv.ParseFloat(strings.TrimRight(num, "/s%"), 64)
	return err == nil && f > 0
}

// screenshot saves the whole page as NAME.png among the artifacts.
func (b *browser) screenshot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	p := filepath.Join(b.dir, name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
	}
}

// steadyLoad keeps requesting an app through the proxy, one request at a
// time, and counts what fails.
type steadyLoad struct {
	n      atomic.Int64
	mu     sync.Mutex
	failed []string
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

func startSteadyLoad(t *testing.T, a *agentProc, app string) *steadyLoad {
	ctx, cancel := context.WithCancel(context.Background())
	l := &steadyLoad{cancel: cancel, done: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	go func() {
		defer close(l.done)
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.httpAddr+"/", nil)
			req.Host = app + ".localhost"
			resp, err := client.Do(req)
			if ctx.Err() != nil {
				return
			}
			l.n.Add(1)
			if err != nil {
				l.fail(err.Error())
			} else {
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					l.fail(resp.Status)
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	t.Cleanup(l.stop)
	return l
}

func (l *steadyLoad) fail(what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failed) < 20 {
		l.failed = append(l.failed, what)
	}
}

func (l *steadyLoad) count() int64 { return l.n.Load() }

func (l *steadyLoad) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.failed...)
}

func (l *steadyLoad) stop() {
	l.once.Do(func() {
		l.cancel()
		<-l.done
	})
}
