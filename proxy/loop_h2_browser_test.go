//go:build linux

package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserPage is what the page in TestLoopHTTP2InChromium does over one
// HTTP/2 connection: many requests at once, an upload, a large download,
// an event stream, a request it gives up on, and then reports.
const browserPage = `<!doctype html><title>h2</title><pre id="out"></pre><script>
(async () => {
  const r = {};
  const many = await Promise.all([...Array(60).keys()].map(i => fetch('/r/' + i).then(a => a.text())));
  r.many = many.every((t, i) => t === 'r' + i);
  const up = await fetch('/upload', {method: 'POST', body: 'u'.repeat(300000)});
  r.upload = await up.text();
  r.big = (await (await fetch('/big')).arrayBuffer()).byteLength;
  r.events = await new Promise(done => {
    const got = [], es = new EventSource('/events');
    es.onmessage = m => { got.push(m.data); if (got.length === 3) { es.close(); done(got.join(',')); } };
    es.onerror = () => { es.close(); done('error after ' + got.join(',')); };
  });
  const ac = new AbortController();
  const slow = fetch('/slow', {signal: ac.signal}).then(() => 'answered', e => e.name);
  setTimeout(() => ac.abort(), 200);
  r.aborted = await slow;
  r.after = await (await fetch('/r/after')).text();
  r.protocols = [...new Set(performance.getEntriesByType('resource').concat(performance.getEntriesByType('navigation')).map(e => e.nextHopProtocol).filter(p => p))].join(',');
  document.getElementById('out').textContent = JSON.stringify(r);
  document.title = 'done';
})();
</script>`

// TestLoopHTTP2InChromium: the real browser's HTTP/2 (its settings,
// windows, header compression, priorities and cancellations) against the
// loops' server, as a person opening an app would.
func TestLoopHTTP2InChromium(t *testing.T) {
	chromium := chromiumPath(t)
	slowGone := make(chan struct{}, 1)
	big := strings.Repeat("b", 3<<20)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/":
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, browserPage)
		case strings.HasPrefix(p, "/r/"):
			io.WriteString(w, "r"+strings.TrimPrefix(p, "/r/"))
		case p == "/upload":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%d %s", len(b), r.Header.Get("X-Forwarded-Proto"))
		case p == "/big":
			io.WriteString(w, big)
		case p == "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: e%d\n\n", i)
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		case p == "/slow":
			<-r.Context().Done()
			slowGone <- struct{}{}
		}
	}))
	t.Cleanup(up.Close)
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"},
		Upstreams: []Upstream{{Name: "web.1", Addr: up.Listener.Addr().String(), Slot: "blue"}}}})
	fr, addr := serveTLSLoops(t, p, LoopConfig{})
	_, port, _ := net.SplitHostPort(addr)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("ignore-certificate-errors", true), // the test certificate
		chromedp.Flag("disable-background-networking", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	if err := chromedp.Do(bctx,
		chromedp.Navigate("https://app.localhost:"+port+"/"), // Chromium resolves *.localhost to the loopback itself
		chromedp.WaitReady(chromedp.CSS(`#out`)),
	); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	if _, err := chromedp.Run(bctx, chromedp.Poll[bool](`document.title === 'done'`, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		t.Fatalf("the page did not finish: %v", err)
	}
	out, err := chromedp.Run(bctx, chromedp.TextContent(chromedp.CSS(`#out`)))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Many                      bool
		Upload, Events, Protocols string
		Big                       int
		Aborted, After            string
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("the page reported %q: %v", out, err)
	}
	t.Logf("the page reported %s", out)
	if !got.Many || got.Upload != "300000 https" || got.Big != len(big) || got.Events != "e0,e1,e2" ||
		got.Aborted != "AbortError" || got.After != "rafter" || got.Protocols != "h2" {
		t.Errorf("in Chromium: %+v", got)
	}
	select {
	case <-slowGone:
	case <-time.After(5 * time.Second):
		t.Error("the request the page gave up on is still with the instance")
	}
	if looped, _ := fr.LoopCounts(); looped < 60 {
		t.Errorf("looped %d: want the page's requests served in the loops", looped)
	}
}

// chromiumPath finds Chromium; without it the test is skipped, unless
// PIER_REQUIRE names it.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	for _, n := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(n) == "chromium" {
			t.Fatal("Chromium is not on PATH (PIER_REQUIRE names chromium): install Debian's chromium")
		}
	}
	t.Skip("Chromium is not on PATH")
	return ""
}
