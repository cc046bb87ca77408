//go:build linux

package proxy

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// A client that asks for a large answer and stops reading it (a slow-read
// attack) would hold a connection to the instance, and the instance's
// worker writing to it, for good: a few such clients take every worker of
// an app that has four. The proxy waits clientSendTimeout for a client to
// take more of an answer, as nginx's send_timeout does, then lets both
// connections go; a client that keeps reading, however slowly, is never
// cut.

// shortSendTimeout lowers clientSendTimeout for a test.
func shortSendTimeout(t *testing.T, d time.Duration) { lowerFor(t, &clientSendTimeout, d) }

// endlessApp is an instance whose /endless answer is 64 MB written 64 KB
// at a time; cut gets the time a write of it failed: the proxy let its
// connection go. Any other path has a short answer.
type endlessApp struct {
	addr string
	cut  chan time.Time
}

func newEndlessApp(t *testing.T) *endlessApp {
	a := &endlessApp{cut: make(chan time.Time, 8)}
	chunk := []byte(strings.Repeat("e", 64<<10))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/endless" {
			io.WriteString(w, "small")
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(1024*len(chunk)))
		for range 1024 {
			if _, err := w.Write(chunk); err != nil {
				a.cut <- time.Now()
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	a.addr = srv.Listener.Addr().String()
	return a
}

func (a *endlessApp) route() Route {
	return Route{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: a.addr, Slot: "blue"}}}
}

// askAndStopReading asks for /endless over HTTP/1.1 on c, reads nothing,
// and waits for the instance's answer to be cut; c closes when the test
// ends.
func (a *endlessApp) askAndStopReading(t *testing.T, c net.Conn) {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	start := time.Now()
	io.WriteString(c, "GET /endless HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	a.waitCut(t, start, 5*time.Second)
}

// waitCut waits for the instance's answer to be cut, at most d.
func (a *endlessApp) waitCut(t *testing.T, start time.Time, d time.Duration) {
	t.Helper()
	select {
	case at := <-a.cut:
		t.Logf("the instance's connection was let go %s after the client stopped reading", at.Sub(start).Round(10*time.Millisecond))
	case <-time.After(d):
		t.Fatalf("the instance still writes to a client that stopped reading %s ago", d)
	}
}

func TestClientThatStopsReadingIsCutOffOverHTTP1(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	for name, loops := range map[string]bool{"loops": true, "goroutines": false} {
		t.Run(name, func(t *testing.T) {
			app := newEndlessApp(t)
			f := newFrontWith(t, Config{}, loops)
			f.SetRoutes([]Route{app.route()})
			c, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			app.askAndStopReading(t, c)

			// The proxy serves on, and the router log says why it cut.
			if resp, body := f.do(t, "GET", "app.localhost", "/small"); resp.StatusCode != 200 || body != "small" {
				t.Errorf("after the cut: %d %q", resp.StatusCode, body)
			}
			// The line is written once the handler is done, which may be
			// after the instance saw its connection go.
			eventually(t, 2*time.Second, "a router line saying the client stopped reading", func() bool {
				f.mu.Lock()
				defer f.mu.Unlock()
				for _, l := range f.logs {
					if l.Path == "/endless" && strings.Contains(l.Error, "stopped reading") {
						return true
					}
				}
				return false
			})
		})
	}
}

func TestClientThatStopsReadingIsCutOffOverHTTP2(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	for _, name := range []string{"loops", "x/net/http2"} {
		t.Run(name, func(t *testing.T) {
			app := newEndlessApp(t)
			c := newH2Client(t, h2Servers(t, &h2App{addr: app.addr})[name])
			c.Timeout = time.Minute // longer than the wait below
			start := time.Now()
			resp, err := c.Do(c.request(t, "GET", "/endless", nil))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close() // and read nothing
			app.waitCut(t, start, 5*time.Second)
			if resp, body := c.get(t, "/small"); resp.StatusCode != 200 || string(body) != "small" {
				t.Errorf("the connection after a stream was cut: %d %q", resp.StatusCode, body)
			}
		})
	}
}

// A client that reads slowly but never stops as long as clientSendTimeout
// gets all of a large answer, however long it takes.
func TestSlowReaderGetsAllOfTheAnswer(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	const size = 4 << 20
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("s", size)))
	}))
	t.Cleanup(up.Close)
	slowRead := func(r io.Reader) (int, error) {
		n := 0
		buf := make([]byte, 256<<10)
		for {
			m, err := io.ReadFull(r, buf) // 256 KB each 100 ms: about 2.5 MB/s
			n += m
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return n, nil
			}
			if err != nil {
				return n, err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for name, f := range http1Fronts(t, up.Listener.Addr().String()) {
		c, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /big HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("HTTP/1.1 %s: %v", name, err)
		}
		if n, err := slowRead(resp.Body); n != size || err != nil {
			t.Errorf("HTTP/1.1 %s: a slow reader got %d bytes of %d (%v)", name, n, size, err)
		}
		c.Close()
	}
	for name, addr := range h2Servers(t, &h2App{addr: up.Listener.Addr().String()}) {
		c := newH2Client(t, addr)
		c.Timeout = time.Minute
		resp, err := c.Do(c.request(t, "GET", "/big", nil))
		if err != nil {
			t.Fatalf("HTTP/2 %s: %v", name, err)
		}
		if n, err := slowRead(resp.Body); n != size || err != nil {
			t.Errorf("HTTP/2 %s: a slow reader got %d bytes of %d (%v)", name, n, size, err)
		}
		resp.Body.Close()
	}
}

// A client cannot keep a stream it does not read alive by opening the
// connection's window alone, over and over: only DATA sent counts.
func TestHTTP2StreamWithAShutWindowIsResetDespiteConnectionUpdates(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	app := newEndlessApp(t)
	_, addr := (&h2App{addr: app.addr}).front(t, Config{})
	h := dialH2Raw(t, addr, 1024, 1<<20)
	h.send(1, h2Get("/endless"))
	a := h.answer(1)
	start := time.Now()
	for !a.reset && time.Since(start) < 5*time.Second {
		if err := h.fr.WriteWindowUpdate(0, 1); err != nil {
			t.Fatal(err)
		}
		h.until(100*time.Millisecond, a.settled)
	}
	if !a.reset || a.code != http2.ErrCodeCancel {
		t.Fatalf("after %s of connection WINDOW_UPDATEs the unread stream is still open (status %q, %d bytes, reset %v %v)",
			time.Since(start).Round(time.Millisecond), a.status, a.body.Len(), a.reset, a.code)
	}
	t.Logf("the stream was reset after %s", time.Since(start).Round(10*time.Millisecond))
	app.waitCut(t, start, 5*time.Second)
}

func TestClientThatStopsReadingIsCutOffOverHTTPS1(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	app := newEndlessApp(t)
	c, err := tls.Dial("tcp", h2Servers(t, &h2App{addr: app.addr})["loops"], &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	app.askAndStopReading(t, c)
}
