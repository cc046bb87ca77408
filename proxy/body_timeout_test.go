//go:build linux

package proxy

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A client that starts an upload and stops sending (a slow-POST attack,
// slowloris for bodies) would hold its connection, its stream and a
// connection to the instance for good. The proxy waits clientBodyTimeout
// for each next part of a body, as nginx's client_body_timeout does, then
// answers 408 and lets both connections go; an upload that keeps moving,
// however slowly, is never cut.

// shortBodyTimeout lowers clientBodyTimeout for a test.
func shortBodyTimeout(t *testing.T, d time.Duration) { lowerFor(t, &clientBodyTimeout, d) }

// lowerFor sets one of the proxy's timeouts to d until the test ends; the
// Proxies made meanwhile take it.
func lowerFor(t *testing.T, timeout *time.Duration, d time.Duration) {
	t.Helper()
	old := *timeout
	*timeout = d
	t.Cleanup(func() { *timeout = old })
}

func TestStalledUploadIsCutOffOverHTTP1(t *testing.T) {
	shortBodyTimeout(t, 300*time.Millisecond)
	app := newH2App(t)
	for name, f := range http1Fronts(t, app.addr) {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// 10 KB of a 100 KB body, then nothing.
			fmt.Fprintf(c, "POST /post HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 100000\r\n\r\n%s", strings.Repeat("x", 10<<10))
			start := time.Now()
			c.SetReadDeadline(start.Add(5 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer to a stalled upload after %s: %v", time.Since(start).Round(time.Millisecond), err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "stopped arriving") {
				t.Fatalf("a stalled upload got %d %q, want 408 and a page saying why", resp.StatusCode, body)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the 408 came after %s, want about %s", took, clientBodyTimeout)
			}
			if _, err := br.ReadByte(); err == nil {
				t.Error("the connection stayed open after the 408")
			}
			l := f.lastLogOf("/post")
			if l.Status != http.StatusRequestTimeout || !strings.Contains(l.Error, "stopped arriving") {
				t.Errorf("router log %+v, want a 408 saying the body stopped arriving", l)
			}
		})
	}
}

func TestStalledUploadIsCutOffOverHTTP2(t *testing.T) {
	shortBodyTimeout(t, 300*time.Millisecond)
	app := newH2App(t)
	for name, addr := range h2Servers(t, app) {
		t.Run(name, func(t *testing.T) {
			c := newH2Client(t, addr)
			pr, pw := io.Pipe()
			defer pw.Close()
			go pw.Write([]byte(strings.Repeat("x", 10<<10))) // then nothing
			req := c.request(t, "POST", "/post", pr)
			req.ContentLength = 100000
			start := time.Now()
			resp, body := c.do(t, req)
			if resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(string(body), "stopped arriving") {
				t.Fatalf("a stalled upload got %d %q, want 408 and a page saying why", resp.StatusCode, body)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the 408 came after %s, want about %s", took, clientBodyTimeout)
			}
			c.stillServes(t, "after a stalled upload")
		})
	}
}

// h2Servers are the app served over HTTP/2 by the event loops and by
// x/net/http2 (where there are no loops), by name.
func h2Servers(t *testing.T, app *h2App) map[string]string {
	_, loops := app.front(t, Config{})
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: app.addr, Slot: "blue"}}}})
	_, goroutines := serveTLSFront(t, p, nil)
	return map[string]string{"loops": loops, "x/net/http2": goroutines}
}

// http1Fronts are the app served over plain HTTP/1.1 by the event loops and
// by goroutines, by name.
func http1Fronts(t *testing.T, addr string) map[string]*front {
	fronts := map[string]*front{}
	for name, loops := range map[string]bool{"loops": true, "goroutines": false} {
		f := newFrontWith(t, Config{}, loops)
		f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: addr, Slot: "blue"}}}})
		fronts[name] = f
	}
	return fronts
}

// slowWriter is a body that comes in parts, a pause after each.
func slowWriter(parts int, part string, pause time.Duration) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		for range parts {
			if _, err := pw.Write([]byte(part)); err != nil {
				return
			}
			time.Sleep(pause)
		}
		pw.Close()
	}()
	return pr
}

// An upload that never pauses as long as clientBodyTimeout goes through,
// however long it takes in all; and an answer that streams on long after
// the upload ended is not cut either.
func TestSlowUploadsAndLongAnswersAreNotCut(t *testing.T) {
	shortBodyTimeout(t, 300*time.Millisecond)
	app := newH2App(t)
	// /stream reads the body, then answers a part every 100 ms for 1.2 s.
	streaming := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d:", n)
		for range 12 {
			w.Write([]byte("z"))
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	t.Cleanup(streaming.Close)
	part := strings.Repeat("y", 1000)
	want := fmt.Sprintf("%x %d", sha256.Sum256([]byte(strings.Repeat(part, 12))), 12*len(part))
	wantStream := "1000:" + strings.Repeat("z", 12)

	for name, addr := range h2Servers(t, app) {
		c := newH2Client(t, addr)
		// 12 parts 100 ms apart: four times the timeout in all.
		resp, body := c.do(t, c.request(t, "POST", "/post", slowWriter(12, part, 100*time.Millisecond)))
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("HTTP/2 %s: a slow upload got %d %q, want 200 %q", name, resp.StatusCode, body, want)
		}
	}
	for name, f := range http1Fronts(t, app.addr) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/post", slowWriter(12, part, 100*time.Millisecond))
		req.Host = "app.localhost"
		if resp, body := send(t, f.srv.Client(), req); resp.StatusCode != 200 || body != want {
			t.Errorf("HTTP/1.1 %s: a slow upload got %d %q, want 200 %q", name, resp.StatusCode, body, want)
		}
	}

	for name, f := range http1Fronts(t, streaming.Listener.Addr().String()) {
		// A body too big for the loops to read whole, so that it streams.
		req, _ := http.NewRequest("POST", f.srv.URL+"/stream", strings.NewReader(part))
		req.Host = "app.localhost"
		req.ContentLength = -1
		if resp, body := send(t, f.srv.Client(), req); resp.StatusCode != 200 || body != wantStream {
			t.Errorf("HTTP/1.1 %s: an answer streaming after the upload got %d %q, want 200 %q", name, resp.StatusCode, body, wantStream)
		}
	}
	a2 := &h2App{addr: streaming.Listener.Addr().String()}
	for name, addr := range h2Servers(t, a2) {
		c := newH2Client(t, addr)
		if resp, body := c.do(t, c.request(t, "POST", "/stream", slowWriter(1, part, 0))); resp.StatusCode != 200 || string(body) != wantStream {
			t.Errorf("HTTP/2 %s: an answer streaming after the upload got %d %q, want 200 %q", name, resp.StatusCode, body, wantStream)
		}
	}
}
