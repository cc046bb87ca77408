//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Attacks on the event loops' HTTP/2 server (loop_h2*_linux.go) by a
// hostile client with a raw framer, and by an instance whose answers are
// hostile. The loop runs with no recover: a panic in it would end the
// whole test binary, as it would end the agent.

// h2Held is what the loops hold for their HTTP/2 connections, read on
// the loops' own goroutines.
type h2Held struct {
	conns, streams int
	blocked        int // entries of the connections' blocked lists
	clientOut      int // answer bytes waiting for the clients to read them
	bodyOut        int // request body bytes waiting for a stream's connection to take them
	// windowLost is the connection windows' shortfall: request bytes the
	// server took and will never give back the window of.
	windowLost int64
}

func h2LoopHeld(t *testing.T, fr *Front) h2Held {
	t.Helper()
	var total h2Held
	g := fr.loops.Load()
	if g == nil {
		t.Fatal("the front has no event loops")
	}
	for _, l := range g.loops {
		got := make(chan h2Held, 1)
		if !l.post(func() {
			var h h2Held
			for _, c := range l.conns {
				if c.h2 != nil {
					h.conns++
					h.streams += len(c.h2.streams)
					h.blocked += len(c.h2.blocked)
					h.clientOut += len(c.out)
					h.windowLost += h2ConnWindow - c.h2.recvWin - c.h2.credit
				}
				if c.stream != nil {
					h.bodyOut += len(c.out)
				}
			}
			got <- h
		}) {
			continue
		}
		select {
		case h := <-got:
			total.conns += h.conns
			total.streams += h.streams
			total.blocked += h.blocked
			total.clientOut += h.clientOut
			total.bodyOut += h.bodyOut
			total.windowLost += h.windowLost
		case <-time.After(5 * time.Second):
			t.Fatal("a loop did not run a task in 5 s")
		}
	}
	return total
}

// rawProxy routes app.localhost to the raw instance u.
func rawProxy(t *testing.T, u *rawUpstream) *Proxy {
	t.Helper()
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{u.route()})
	return p
}

// An answer whose body ends when the instance closes its connection
// (HTTP/1.0 style, no length), to a client whose stream window is shut:
// the body waits in the loop for the window, and the instance connection,
// at its end, stays registered for reading. Epoll reports its end again
// and again, and the loop spins on it at 100% of a core for as long as
// the client keeps its window shut; with one such stream per loop, every
// core. A slow mobile client downloading from an HTTP/1.0-style app does
// it without meaning to.
func TestH2AttackCloseDelimitedAnswerToAShutWindowDoesNotSpin(t *testing.T) {
	u := newRawUpstream(t, map[string]string{
		"/close": "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + strings.Repeat("x", 1000),
	})
	_, addr := serveTLSLoops(t, rawProxy(t, u), LoopConfig{})
	h := dialH2Raw(t, addr, 0, 0)
	h.send(1, h2Get("/close"))
	a := h.answer(1)
	if !h.until(3*time.Second, func() bool { return a.status != "" }) || a.status != "200" {
		t.Fatalf("no answer's head: %q (%v)", a.status, h.err)
	}
	time.Sleep(300 * time.Millisecond) // the instance has closed its connection
	before, start := cpuTime(), time.Now()
	time.Sleep(time.Second)
	used, took := cpuTime()-before, time.Since(start)
	if used > took/2 {
		t.Errorf("the process used %v of CPU in %v while the only client waited with its window shut", used, took.Round(time.Millisecond))
	}
	// Opened, the window lets the whole body through.
	if err := h.fr.WriteWindowUpdate(1, 1<<20); err != nil {
		t.Fatal(err)
	}
	if !h.until(3*time.Second, a.settled) || a.reset || a.body.Len() != 1000 {
		t.Fatalf("after the window opened: %d bytes, reset %v (%v)", a.body.Len(), a.reset, h.err)
	}
}

// An instance that sends 103 Early Hints without end (a bug, or an app
// taken over) while the client does not read: each hint becomes a HEADERS
// frame in the client connection's buffer, and the instance connection is
// never paused, since only DATA pauses it. The buffer grows by the
// instance's speed until the answer's timeout (a minute): gigabytes from
// one request, all in the agent's memory. Go's HTTP/1 and HTTP/2 transports stop after a few 1xx.
func TestH2AttackInterimAnswerFloodIsBounded(t *testing.T) {
	hint := "HTTP/1.1 103 Early Hints\r\nLink: </" + strings.Repeat("a", 8<<10) + ">; rel=preload\r\n\r\n"
	var wrote atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				if req.Header.Get("User-Agent") == "pier-health-check" {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
					return
				}
				c.SetWriteDeadline(time.Now().Add(4 * time.Second))
				for {
					n, err := io.WriteString(c, hint)
					wrote.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: l.Addr().String(), Name: "web.1"}}}})
	fr, addr := serveTLSLoops(t, p, LoopConfig{})
	h := dialH2Raw(t, addr, 65535, 0)
	h.send(1, h2Get("/hints")) // and nothing read
	time.Sleep(2 * time.Second)
	held := h2LoopHeld(t, fr)
	// A DATA answer is held to loopHighWater (256 KB) and one read more.
	if held.clientOut > 1<<20 {
		t.Errorf("the loop holds %d KB for a client that reads nothing, and grows (the instance wrote %d KB of 103 answers)",
			held.clientOut>>10, wrote.Load()>>10)
	}
}

// The budget on RST_STREAM (rapid reset, CVE-2023-44487) counts only the
// client's resets. A client that makes the server reset each stream, here
// with a WINDOW_UPDATE of 0 on it (or DATA on a stream it ended), is
// never counted: every stream still goes to the instance, on a fresh
// connection as the reset closes the one it used, as fast as the client
// can write. The server must cut it off as it cuts off RST_STREAM floods.
func TestH2AttackServerProvokedResetFloodIsCutOff(t *testing.T) {
	for _, tc := range []struct {
		name    string
		provoke func(fr *http2.Framer, id uint32) error
	}{
		{"WINDOW_UPDATE of 0", func(fr *http2.Framer, id uint32) error {
			return fr.WriteRawFrame(http2.FrameWindowUpdate, 0, id, []byte{0, 0, 0, 0})
		}},
		{"DATA after END_STREAM", func(fr *http2.Framer, id uint32) error {
			return fr.WriteData(id, false, []byte("x"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newUpstream(t, "web.1")
			_, addr := serveTLSLoops(t, appProxy(t, u), LoopConfig{})
			a := dialH2(t, addr)
			a.readAll()
			block := headerBlock()
			took, rounds, cut := flood(1500*time.Millisecond, func(i int) error {
				id := uint32(2*i + 1)
				if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
					return err
				}
				return tc.provoke(a.fr, id)
			})
			if !cut {
				t.Errorf("not cut off after %v; the instance got %d requests", took.Round(time.Millisecond), u.hits.Load())
			} else {
				t.Logf("cut off after %v, %d streams", took.Round(time.Millisecond), rounds)
			}
		})
	}
}

// Streams whose answer waits for the client's window go on the
// connection's blocked list; a stream reset there stays on it, with its
// request and answer state, until the client next opens a window. A
// client that never does, and opens and cancels streams, grows the list
// without bound on one connection.
func TestH2AttackBlockedListForgetsResetStreams(t *testing.T) {
	u := newUpstream(t, "web.1")
	fr, addr := serveTLSLoops(t, appProxy(t, u), LoopConfig{})
	h := dialH2Raw(t, addr, 0, 0)
	const n = 150 // more than SETTINGS_MAX_CONCURRENT_STREAMS, within the reset budget's burst
	for i := range n {
		id := uint32(2*i + 1)
		h.send(id, headerBlock())
		a := h.answer(id)
		if !h.until(3*time.Second, func() bool { return a.status != "" || a.reset }) {
			t.Fatalf("stream %d: no answer (%v)", id, h.err)
		}
		if err := h.fr.WriteRSTStream(id, http2.ErrCodeCancel); err != nil {
			t.Fatal(err)
		}
	}
	h.until(200*time.Millisecond, func() bool { return false }) // the resets are read
	if held := h2LoopHeld(t, fr); held.blocked > held.streams {
		t.Errorf("after %d streams reset, the blocked list holds %d entries for %d live streams", n, held.blocked, held.streams)
	}
}

// The idle timeout closes a connection without streams. Any frame the
// client sends starts it again, so one PING a minute keeps a connection,
// its TLS state and its buffers forever: thousands of them cost a client
// nothing. x/net/http2 and the HTTP/1.1 loops count idleness from the
// last request.
func TestH2AttackPingsDoNotKeepAnIdleConnection(t *testing.T) {
	u := newUpstream(t, "web.1")
	_, addr := serveTLSLoops(t, appProxy(t, u), LoopConfig{idleTimeout: 500 * time.Millisecond})
	a := dialH2(t, addr)
	ended := a.readAll()
	deadline := time.Now().Add(3 * time.Second)
	for i := uint64(0); time.Now().Before(deadline); i++ {
		select {
		case <-ended:
			return // closed as idle
		case <-time.After(100 * time.Millisecond):
		}
		var data [8]byte
		data[0] = byte(i)
		if err := a.fr.WritePing(false, data); err != nil {
			return // closed as idle
		}
	}
	t.Error("a connection without streams, idle timeout 500 ms, still open after 3 s of PINGs")
}

// An upload the app answers before reading it all (a 204 at once here; a
// 401 for a bad token, an error page alike). Front's goroutines write the
// answer into the stream's socket pair and close their end; the loop's
// next write of body bytes fails (EPIPE) and it takes the stream as
// failed (h2Body -> send -> gone -> h2UpGone -> h2Abort) without reading
// the answer waiting in the socket: the user gets RST_STREAM
// INTERNAL_ERROR ("stream error") instead of the app's answer.
func TestH2AttackEarlyAnswersToUploads(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	body := bytes.Repeat([]byte("u"), 4<<20)
	for i := range 6 {
		resp, err := c.Do(c.request(t, "POST", "/status/204", bytes.NewReader(body)))
		if err != nil {
			t.Errorf("upload %d answered early: %v", i, err)
			continue
		}
		resp.Body.Close()
		if resp.StatusCode != 204 {
			t.Errorf("upload %d answered early: %d", i, resp.StatusCode)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := c.Do(c.request(t, "POST", "/post", bytes.NewReader(body[:1<<20])))
		if err != nil {
			t.Errorf("an upload after the early answers: %v", err)
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasSuffix(string(b), " 1048576") {
			t.Errorf("an upload after the early answers: %d %q", resp.StatusCode, b)
		}
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("an upload after the early answers did not finish in 5 s")
	}
}

// An upload the user cancels (RST_STREAM) while the app is slow to read
// it: the loop holds back the window of the body bytes waiting for
// Front's goroutines (h2Stream.owed), and when the stream ends first that
// window never comes back to the connection. A few cancelled uploads use
// up the connection's 1 MB window, and every later upload on the
// connection hangs: the user's browser tab can no longer post anything.
func TestH2AttackConnectionWindowComesBackAfterCancelledUploads(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	}))
	t.Cleanup(srv.Close)
	fr, addr := h2Front(t, Config{}, Route{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: srv.Listener.Addr().String()}}})
	c := newH2Client(t, addr)
	body := bytes.Repeat([]byte("u"), 32<<20)
	for range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		resp, err := c.Do(c.request(t, "POST", "/slow", bytes.NewReader(body)).WithContext(ctx))
		cancel()
		if err == nil {
			resp.Body.Close()
		}
	}
	time.Sleep(100 * time.Millisecond)
	if held := h2LoopHeld(t, fr); held.windowLost != 0 {
		t.Errorf("after 5 cancelled uploads, the connection's window is %d KB short", held.windowLost>>10)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	resp, err := c.Do(c.request(t, "POST", "/fast", bytes.NewReader(body[:512<<10])).WithContext(ctx))
	if err != nil {
		t.Fatalf("a 512 KB upload after the cancelled ones: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "524288" {
		t.Errorf("a 512 KB upload after the cancelled ones: %d %q", resp.StatusCode, b)
	}
}

// A HEADERS frame the framer rejects as a stream error (its padding is
// longer than it) that does not end its header block, then an empty
// CONTINUATION that does: the loop resets the stream and goes on, the
// framer accepts the CONTINUATION, and the loop decodes h.block, still
// the previous request's block, as a new request on stream 0 (h.blockID
// was never set). The app gets that request a second time, and its
// answer's header block goes through the connection's HPACK encoder but
// the framer will not write it on stream 0: the client's decoder misses
// entries the encoder now refers to, and the next answer on the
// connection fails to decode (COMPRESSION_ERROR). RFC 9113 (6.2) makes
// the padding a connection error.
func TestH2AttackContinuationAfterARejectedHeadersFrame(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	h := dialH2Raw(t, addr, 65535, 0)
	h.send(1, h2Get("/first"))
	if a := h.answer(1); !h.until(3*time.Second, a.settled) || a.status != "200" {
		t.Fatalf("the first request: %q (%v)", a.status, h.err)
	}
	if err := h.fr.WriteRawFrame(http2.FrameHeaders, http2.FlagHeadersPadded, 3, []byte{200, 0x82, 0x86, 0x84}); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteContinuation(3, true, nil); err != nil {
		t.Fatal(err)
	}
	if h.until(300*time.Millisecond, func() bool { return h.goAway }) {
		// The connection ends: what RFC 9113 asks.
		if app.hits.Load() > 1 {
			t.Errorf("the app got %d requests, want 1: the CONTINUATION of a rejected HEADERS was served", app.hits.Load())
		}
		return
	}
	h.send(5, h2Get("/after"))
	a := h.answer(5)
	h.until(3*time.Second, func() bool { return a.settled() || h.goAway })
	switch {
	case h.goAway:
		// The connection ends: what RFC 9113 asks.
	case !a.ended || a.status != "200" || a.body.String() != "GET /after |":
		t.Errorf("the next request on the connection: status %q, body %q, reset %v, read error %v", a.status, a.body.String(), a.reset, h.err)
	}
	if app.hits.Load() > 2 {
		t.Errorf("the app got %d requests, want 2: the CONTINUATION of a rejected HEADERS was served", app.hits.Load())
	}
}

// Uploads on many streams of one connection to an app slow to read them:
// each stream's body waits in its socket pair's buffer (h2Stream.u.out)
// up to loopHighWater (256 KB) with its window given back to the client,
// then up to its stream window more. One connection's 128 streams can
// make the loop hold 64 MB, and a hundred connections gigabytes;
// x/net/http2 holds at most its connection window (1 MB) of a
// connection's request bodies.
func TestH2AttackRequestBodiesHeldPerConnectionAreBounded(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	t.Cleanup(srv.Close)
	fr, addr := h2Front(t, Config{}, Route{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: srv.Listener.Addr().String()}}})
	c := newH2Client(t, addr)
	body := bytes.Repeat([]byte("u"), 8<<20)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			resp, err := c.Do(c.request(t, "POST", "/slow", bytes.NewReader(body)).WithContext(ctx))
			if err == nil {
				resp.Body.Close()
			}
		})
	}
	most := 0
	for range 12 {
		time.Sleep(100 * time.Millisecond)
		most = max(most, h2LoopHeld(t, fr).bodyOut)
	}
	cancel()
	wg.Wait()
	if most > h2ConnWindow {
		t.Errorf("the loop held %d KB of one connection's request bodies, more than its connection window (%d KB)", most>>10, h2ConnWindow>>10)
	}
}

// Request smuggling through the socket pair: Front's goroutines read each
// bridged stream as HTTP/1.1, so a byte of a name, value, path, method or
// authority that ends a line, or a body longer than its Content-Length,
// could make them read a second request the client chose, or a header
// the proxy sets (X-Forwarded-For) with the client's value. Every such
// stream must be refused, and the instance must never see the smuggled
// request or header. This attack holds.
func TestH2AttackNoSmugglingThroughTheBridge(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" injected="+r.Header.Get("X-Injected")+" xff="+r.Header.Get("X-Forwarded-For"))
		mu.Unlock()
		fmt.Fprintf(w, "%d", len(b))
	}))
	t.Cleanup(srv.Close)
	_, addr := h2Front(t, Config{}, Route{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: srv.Listener.Addr().String()}}})
	h := dialH2Raw(t, addr, 65535, 0)
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: app.localhost\r\nX-Injected: 1\r\n\r\n"
	post := func(extra ...string) []byte {
		return h2Fields(append([]string{":method", "POST", ":scheme", "https", ":authority", "app.localhost", ":path", "/post"}, extra...)...)
	}
	id := uint32(1)
	refused := func(what string, block []byte, data ...string) {
		t.Helper()
		if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: len(data) == 0, EndHeaders: true}); err != nil {
			t.Fatal(err)
		}
		for i, d := range data {
			if err := h.fr.WriteData(id, i == len(data)-1, []byte(d)); err != nil {
				t.Fatal(err)
			}
		}
		a := h.answer(id)
		if !h.until(3*time.Second, a.settled) {
			t.Fatalf("%s: no answer (%v)", what, h.err)
		}
		if !a.reset && a.status != "400" {
			t.Errorf("%s: %s %q, want the stream refused", what, a.status, a.body.String())
		}
		id += 2
	}
	refused("a value with CRLF", post("x-a", "1\r\nX-Injected: 1"))
	refused("a value with LF", post("x-a", "1\nX-Injected: 1"))
	refused("a value with NUL", post("x-a", "1\x00"))
	refused("a name with CRLF", post("x-a\r\nx-injected", "1"))
	refused("a name with a colon", post("x-injected:", "1"))
	refused("a name with a space", post("x-injected ", "1"))
	refused("an upper case name", post("X-Injected", "1"))
	refused("a path with CRLF", h2Fields(":method", "GET", ":scheme", "https", ":authority", "app.localhost", ":path", "/a HTTP/1.1\r\n\r\n"+smuggled))
	refused("a path with a space", h2Fields(":method", "GET", ":scheme", "https", ":authority", "app.localhost", ":path", "/smuggled HTTP/1.1"))
	refused("a method with CRLF", h2Fields(":method", "GET /smuggled HTTP/1.1\r\n", ":scheme", "https", ":authority", "app.localhost", ":path", "/"))
	refused("an authority with CRLF", h2Fields(":method", "GET", ":scheme", "https", ":authority", "app.localhost\r\nX-Injected: 1", ":path", "/"))
	refused("transfer-encoding", post("transfer-encoding", "chunked"), "5\r\nhello\r\n0\r\n\r\n"+smuggled)
	refused("te: chunked", post("te", "chunked"), "x")
	refused("two lengths", post("content-length", "5", "content-length", "6"), "hello")
	refused("a length and END_STREAM", post("content-length", "5"))
	// A body longer than its length: the stream is reset before its bytes
	// pass the length.
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: post("content-length", "5"), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	h.fr.WriteData(id, true, []byte("hello"+smuggled))
	if a := h.answer(id); !h.until(3*time.Second, a.settled) || !a.reset {
		t.Errorf("a body longer than its length: %s %q, want a reset", a.status, a.body.String())
	}
	id += 2
	// Trailers that would end the head early.
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: post(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	h.fr.WriteData(id, false, []byte("abc"))
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h2Fields("x-t", "1\r\n\r\n"+smuggled), EndStream: true, EndHeaders: true})
	if a := h.answer(id); !h.until(3*time.Second, a.settled) || !a.reset {
		t.Errorf("trailers with CRLF: %s %q, want a reset", a.status, a.body.String())
	}
	id += 2
	// A request in a body without a length is the body, chunked on the
	// way to Front's goroutines.
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: post(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	h.fr.WriteData(id, false, []byte("0\r\n\r\n"+smuggled))
	h.fr.WriteData(id, true, []byte("\r\n0\r\n\r\n"+smuggled))
	want := fmt.Sprint(2*len(smuggled) + 12)
	if a := h.answer(id); !h.until(3*time.Second, a.settled) || a.status != "200" || a.body.String() != want {
		t.Errorf("a body holding requests: %s %q, want 200 %q", a.status, a.body.String(), want)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 {
		t.Error("the instance saw no request")
	}
	for _, s := range seen {
		if strings.Contains(s, "/smuggled") || !strings.Contains(s, "injected= ") || !strings.HasSuffix(s, "xff=127.0.0.1") {
			t.Errorf("the instance saw %q", s)
		}
	}
}

// Frames a client may not send in a stream's state, or past a window:
// each gets the error RFC 9113 names for it, as a reset of the stream or
// a GOAWAY of the connection, and a stream error leaves the connection
// serving. These hold.
func TestH2AttackStreamStateViolations(t *testing.T) {
	u := newUpstream(t, "web.1")
	_, addr := serveTLSLoops(t, appProxy(t, u), LoopConfig{})
	get := headerBlock()
	for _, tc := range []struct {
		name   string
		send   func(h *h2Raw) error
		goAway bool          // a connection error, else RST_STREAM on stream 1
		code   http2.ErrCode // its code
	}{
		{"HEADERS on an even stream", func(h *h2Raw) error {
			return h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 2, BlockFragment: get, EndStream: true, EndHeaders: true})
		}, true, http2.ErrCodeProtocol},
		{"DATA on an idle stream", func(h *h2Raw) error { return h.fr.WriteData(7, true, []byte("x")) }, true, http2.ErrCodeProtocol},
		{"WINDOW_UPDATE on an idle stream", func(h *h2Raw) error { return h.fr.WriteWindowUpdate(7, 1) }, true, http2.ErrCodeProtocol},
		{"RST_STREAM on an idle stream", func(h *h2Raw) error { return h.fr.WriteRSTStream(7, http2.ErrCodeCancel) }, true, http2.ErrCodeProtocol},
		{"PUSH_PROMISE", func(h *h2Raw) error {
			return h.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: get, EndHeaders: true})
		}, true, http2.ErrCodeProtocol},
		{"a frame over SETTINGS_MAX_FRAME_SIZE", func(h *h2Raw) error {
			return h.fr.WriteRawFrame(http2.FrameData, 0, 1, make([]byte, 20<<10))
		}, true, http2.ErrCodeFrameSize},
		{"the connection's window past 2^31-1", func(h *h2Raw) error { return h.fr.WriteWindowUpdate(0, 1<<31-1) }, true, http2.ErrCodeFlowControl},
		{"SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1", func(h *h2Raw) error {
			return h.fr.WriteRawFrame(http2.FrameSettings, 0, 0, []byte{0, 4, 0x80, 0, 0, 0})
		}, true, http2.ErrCodeFlowControl},
		{"HEADERS on a half-closed stream", func(h *h2Raw) error {
			return h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: get, EndStream: true, EndHeaders: true})
		}, false, http2.ErrCodeStreamClosed},
		{"DATA on a half-closed stream", func(h *h2Raw) error { return h.fr.WriteData(1, true, []byte("x")) }, false, http2.ErrCodeStreamClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := dialH2Raw(t, addr, 0, 0) // answers wait: stream 1 stays open
			h.send(1, get)
			a := h.answer(1)
			if !h.until(3*time.Second, func() bool { return a.status != "" }) {
				t.Fatalf("no answer on stream 1 (%v)", h.err)
			}
			err := tc.send(h)
			if tc.goAway {
				// The server may close before the frame is all written, and
				// a reset may then overtake its GOAWAY: either ends it.
				h.until(3*time.Second, func() bool { return false })
				var ne net.Error
				if !h.goAway && (errors.As(h.err, &ne) && ne.Timeout()) {
					t.Fatalf("no GOAWAY, the connection still open (%v, %v)", err, h.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !h.until(3*time.Second, func() bool { return a.reset }) || a.code != tc.code {
				t.Fatalf("stream 1: reset %v code %v, want %v (%v)", a.reset, a.code, tc.code, h.err)
			}
			h.send(3, get)
			if b := h.answer(3); !h.until(3*time.Second, func() bool { return b.status != "" }) || b.status != "200" {
				t.Fatalf("the connection after the stream error: %q (%v)", b.status, h.err)
			}
		})
	}
}

// Header blocks of streams the server refuses (over
// SETTINGS_MAX_CONCURRENT_STREAMS) or rejects (malformed) still change
// the HPACK table the client's encoder shares with the server's decoder:
// a later request that refers to their entries must decode as the client
// meant it. Gone wrong, a request would reach the app with another
// request's cookie. This holds.
func TestH2AttackHPACKStaysInSyncPastRefusedStreams(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	h := dialH2Raw(t, addr, 0, 0) // every answer waits: its stream stays open
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	block := func(fields ...string) []byte {
		buf.Reset()
		all := append([]string{":method", "GET", ":scheme", "https", ":authority", "app.localhost", ":path", "/echo"}, fields...)
		for i := 0; i+1 < len(all); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: all[i], Value: all[i+1]})
		}
		return bytes.Clone(buf.Bytes())
	}
	for i := range h2MaxStreams {
		h.send(uint32(2*i+1), block("x-seq", fmt.Sprint(i)))
	}
	last := uint32(2*h2MaxStreams - 1)
	if a := h.answer(last); !h.until(3*time.Second, func() bool { return a.status != "" }) {
		t.Fatalf("stream %d: no answer (%v)", last, h.err)
	}
	refused, rejected := last+2, last+4
	h.send(refused, block("x-seq", "refused", "cookie", "c=refused"))
	h.send(rejected, block("x-seq", "rejected", "cookie", "c=rejected", "connection", "close"))
	if a := h.answer(refused); !h.until(3*time.Second, a.settled) || !a.reset || a.code != http2.ErrCodeRefusedStream {
		t.Fatalf("stream %d over the limit: reset %v %v, want REFUSED_STREAM", refused, a.reset, a.code)
	}
	if a := h.answer(rejected); !h.until(3*time.Second, a.settled) || !a.reset {
		t.Fatalf("a malformed stream: %s, want a reset", a.status)
	}
	if err := h.fr.WriteRSTStream(1, http2.ErrCodeCancel); err != nil { // room for one more
		t.Fatal(err)
	}
	next := rejected + 2
	h.send(next, block("x-seq", "refused", "cookie", "c=rejected"))
	a := h.answer(next)
	if !h.until(3*time.Second, func() bool { return a.status != "" }) {
		t.Fatalf("the next stream: no answer (%v)", h.err)
	}
	if got := a.header.Get("Echo-X-Seq") + " " + a.header.Get("Echo-Cookie"); got != "refused c=rejected" {
		t.Errorf("the app got X-Seq and Cookie %q, want %q", got, "refused c=rejected")
	}
}

// A HEADERS frame on a stream id lower than one the client already
// opened, and never opened itself: RFC 9113 (5.1.1) makes it a connection
// error. The loop decodes the block and drops it without a word, so the
// client waits for an answer that never comes (its request "hangs").
func TestH2AttackStreamIDGoingBackIsAnError(t *testing.T) {
	u := newUpstream(t, "web.1")
	_, addr := serveTLSLoops(t, appProxy(t, u), LoopConfig{})
	h := dialH2Raw(t, addr, 65535, 0)
	h.send(5, headerBlock())
	if a := h.answer(5); !h.until(3*time.Second, a.settled) {
		t.Fatalf("stream 5: no answer (%v)", h.err)
	}
	h.send(3, headerBlock())
	a := h.answer(3)
	if !h.until(2*time.Second, func() bool { return a.settled() || h.goAway }) {
		t.Errorf("HEADERS on stream 3 after stream 5: neither an answer, a reset nor a GOAWAY in 2 s (%v)", h.err)
	}
}

// Answers from an instance that break HTTP/1.1's rules: each reaches the
// client as a well-formed HTTP/2 answer, a 502, or a reset stream, never
// more bytes than the answer's length, and the connection goes on. These
// hold.
func TestH2AttackHostileAnswers(t *testing.T) {
	u := newRawUpstream(t, map[string]string{
		"/longer":    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nbad",
		"/cut":       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly this<pause><close>",
		"/badchunk":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
		"/cutchunk":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n<pause><close>",
		"/badtrail":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 1\r\nno colon\r\n\r\n",
		"/longtrail": "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: " + strings.Repeat("1", 64<<10) + "\r\n\r\n",
		"/hugehead":  "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 1<<20) + "\r\nContent-Length: 2\r\n\r\nok",
		"/switch":    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
		"/badname":   "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok",
		"/ctl":       "HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 2\r\n\r\nok",
		"/te-cl":     "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"/204body":   "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nhello",
		"/hints":     strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n", 50) + "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"/continues": strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 50) + "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"/ok":        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
	})
	_, addr := serveTLSLoops(t, rawProxy(t, u), LoopConfig{})
	h := dialH2Raw(t, addr, 1<<20, 1<<20)
	id := uint32(1)
	for _, tc := range []struct {
		path, status, body string // status "reset": a reset stream, whatever came before
	}{
		{"/longer", "200", "hello"},
		{"/cut", "reset", ""},
		{"/badchunk", "reset", ""},
		{"/cutchunk", "reset", ""},
		{"/badtrail", "reset", ""},
		{"/longtrail", "reset", ""},
		{"/hugehead", "502", ""},
		{"/switch", "502", ""},
		{"/badname", "502", ""},
		{"/ctl", "502", ""},
		{"/te-cl", "200", "hello"}, // Transfer-Encoding overrides Content-Length (RFC 9112, 6.3)
		{"/204body", "204", ""},
		{"/hints", "200", "ok"},
		{"/continues", "200", "ok"},
		{"/ok", "200", "ok"},
	} {
		h.send(id, h2Get(tc.path))
		a := h.answer(id)
		id += 2
		if !h.until(3*time.Second, a.settled) {
			t.Fatalf("%s: no end (%v)", tc.path, h.err)
		}
		switch {
		case tc.status == "reset":
			if !a.reset {
				t.Errorf("%s: %s %q, want a reset stream", tc.path, a.status, a.body.String())
			}
		case a.reset || a.status != tc.status || tc.body != "" && a.body.String() != tc.body:
			t.Errorf("%s: %s %q (reset %v %v), want %s %q", tc.path, a.status, a.body.String(), a.reset, a.code, tc.status, tc.body)
		}
	}
}

// An upload under way while the front shuts down (an agent restart), that
// the app answers before reading it all: Front's goroutines answer and
// close the stream's socket pair while the client's DATA keeps coming.
// The loop's next write to the socket pair fails inside frames(); the
// stream is reset (h2UpGone -> h2Abort), the connection, past its GOAWAY
// and without streams now, is flushed and closed (c.in = nil) right there,
// and serveH2 then trims c.in by the bytes frames() used: a slice out of
// range, a panic on the loop's goroutine, and the whole agent exits. A
// client whose connection breaks at that moment (the flush fails) does the
// same without any shutdown.
//
// The test runs the attack in a child process, which the panic ends
// (PIER_H2_ATTACK_CHILD=1 with -test.run runs the child alone).
func TestH2AttackUploadEndingDuringShutdownDoesNotPanic(t *testing.T) {
	if os.Getenv("PIER_H2_ATTACK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestH2AttackUploadEndingDuringShutdownDoesNotPanic$", "-test.count=1")
		cmd.Env = append(os.Environ(), "PIER_H2_ATTACK_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			i := bytes.Index(out, []byte("panic:"))
			if i < 0 {
				i = 0
			}
			t.Fatalf("the attack's process failed (%v):\n%s", err, out[i:min(len(out), i+3000)])
		}
		return
	}
	// The failing write falls inside frames() about one time in two:
	// rounds of the attack, until the first panic.
	for i := range 8 {
		t.Run(fmt.Sprint(i), uploadEndingDuringShutdown)
	}
}

func uploadEndingDuringShutdown(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		for {
			select {
			case <-release:
				io.WriteString(w, "enough")
				return
			default:
			}
			if _, err := r.Body.Read(buf); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	fr, addr := h2Front(t, Config{}, Route{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: srv.Listener.Addr().String()}}})
	c := newH2Client(t, addr)
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(c.request(t, "POST", "/upload", io.LimitReader(neverEnding('u'), 1<<30)))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // the upload streams
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		fr.Shutdown(ctx)
	}()
	time.Sleep(150 * time.Millisecond) // the loop said GOAWAY; the stream goes on
	close(release)
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("the upload did not end")
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// Requests at the edges of what is legal, through the fast path and the
// bridge: each gets an answer or a reset, the loop does not panic on any
// (a panic would end this test binary), and the connection goes on.
// These hold.
func TestH2AttackOddRequests(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	h := dialH2Raw(t, addr, 1<<20, 1<<20)
	req := func(method, scheme, authority, path string, extra ...string) []byte {
		var f []string
		for _, p := range [][2]string{{":method", method}, {":scheme", scheme}, {":authority", authority}, {":path", path}} {
			if p[1] != "-" {
				f = append(f, p[0], p[1])
			}
		}
		return h2Fields(append(f, extra...)...)
	}
	crumbs := []string{}
	for i := range 100 {
		crumbs = append(crumbs, "cookie", fmt.Sprintf("c%d=%d", i, i))
	}
	blocks := map[string][]byte{
		"OPTIONS *":           req("OPTIONS", "https", "app.localhost", "*"),
		"GET *":               req("GET", "https", "app.localhost", "*"),
		"CONNECT":             req("CONNECT", "-", "app.localhost:443", "-"),
		"a lone %":            req("GET", "https", "app.localhost", "/%"),
		"a bad escape":        req("GET", "https", "app.localhost", "/%zz?%zz"),
		"an escaped NUL":      req("GET", "https", "app.localhost", "/a%00b"),
		"dot segments":        req("GET", "https", "app.localhost", "/..%2f..%2fetc/passwd"),
		"a double slash":      req("GET", "https", "app.localhost", "//x//y"),
		"a bare ?":            req("GET", "https", "app.localhost", "/?"),
		"a fragment":          req("GET", "https", "app.localhost", "/a#frag"),
		"a 60 KB path":        req("GET", "https", "app.localhost", "/"+strings.Repeat("p", 60<<10)),
		"no path":             req("GET", "https", "app.localhost", "-"),
		"a path without /":    req("GET", "https", "app.localhost", "x"),
		"a port out of range": req("GET", "https", "app.localhost:99999", "/"),
		"an IPv6 authority":   req("GET", "https", "[::1]:443", "/"),
		"an empty port":       req("GET", "https", "app.localhost:", "/"),
		"upper case host":     req("GET", "https", "APP.LOCALHOST", "/"),
		"userinfo":            req("GET", "https", "u:p@app.localhost", "/"),
		"Host, no :authority": req("GET", "https", "-", "/", "host", "app.localhost"),
		"Host and :authority": req("GET", "https", "app.localhost", "/", "host", "other.localhost"),
		"two Hosts":           req("GET", "https", "-", "/", "host", "app.localhost", "host", "other.localhost"),
		"no authority":        req("GET", "https", "-", "/"),
		"100 cookie crumbs":   req("GET", "https", "app.localhost", "/", crumbs...),
		"headers too large":   req("GET", "https", "app.localhost", "/", "x-big", strings.Repeat("b", 40<<10), "x-big2", strings.Repeat("c", 40<<10)),
		"a lower case method": req("get", "https", "app.localhost", "/"),
		"an unknown method":   req("FOO", "https", "app.localhost", "/"),
		"scheme http":         req("GET", "http", "app.localhost", "/"),
		"scheme ftp":          req("GET", "ftp", "app.localhost", "/"),
		"lengths of 0":        req("GET", "https", "app.localhost", "/", "content-length", "0", "content-length", "0"),
		"te: trailers":        req("GET", "https", "app.localhost", "/", "te", "trailers"),
		"an empty name":       req("GET", "https", "app.localhost", "/", "", "x"),
		"an unknown pseudo":   req("GET", "https", "app.localhost", "/", ":protocol", "websocket"),
		"a pseudo after":      h2Fields(":method", "GET", ":scheme", "https", "x-a", "1", ":authority", "app.localhost", ":path", "/"),
		"a repeated pseudo":   h2Fields(":method", "GET", ":method", "POST", ":scheme", "https", ":authority", "app.localhost", ":path", "/"),
		"expect 100-continue": req("POST", "https", "app.localhost", "/post", "expect", "100-continue", "content-length", "0"),
		"max-forwards":        req("TRACE", "https", "app.localhost", "/", "max-forwards", "0"),
		"an api-looking host": req("GET", "https", "localhost", "/"),
	}
	id := uint32(1)
	for name, block := range blocks {
		frags := splitFrames(block, 16<<10)
		if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frags[0], EndStream: true, EndHeaders: len(frags) == 1}); err != nil {
			t.Fatal(err)
		}
		for i, f := range frags[1:] {
			if err := h.fr.WriteContinuation(id, i == len(frags)-2, f); err != nil {
				t.Fatal(err)
			}
		}
		a := h.answer(id)
		if !h.until(3*time.Second, a.settled) {
			t.Fatalf("%s: no answer (%v)", name, h.err)
		}
		t.Logf("%s: %s %v", name, a.status, a.code)
		id += 2
	}
	h.send(id, h2Get("/after"))
	if a := h.answer(id); !h.until(3*time.Second, a.settled) || a.status != "200" {
		t.Fatalf("the connection after: %q (%v)", a.status, h.err)
	}
}

// splitFrames cuts a header block into fragments of at most n bytes.
func splitFrames(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}
