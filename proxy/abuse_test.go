package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Abuse of the HTTPS listener, over HTTP/2 and HTTP/1.1: each attack runs
// against a real Front on 127.0.0.1 while a well-behaved client goes on
// asking. Each must be cut off within a bound, with the process's heap
// staying under a bound, and the well-behaved client must be served
// throughout. The attacking frames are crafted with x/net/http2's Framer.

// abuseHeapBound is how much the heap may grow over its level before an
// attack. The tests run in parallel, so it covers them all at once.
const abuseHeapBound = 32 << 20

// abuseTarget is an HTTPS Front with one app (its HTTP/1.1 connections in
// event loops, as in the agent), a well-behaved client asking
// it every 20 ms, and a watch on the heap.
type abuseTarget struct {
	addr    string
	front   *Front
	good    atomic.Int64 // answers the well-behaved client got
	bad     atomic.Int64 // its failures
	lastErr atomic.Value
	heapMax atomic.Uint64
	heap0   uint64
	stop    chan struct{}
	wg      sync.WaitGroup
}

func newAbuseTarget(t *testing.T) *abuseTarget {
	t.Helper()
	u := newUpstream(t, "web.1")
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{appRoute("app", u)})
	fr, addr := serveTLSLoops(t, p, LoopConfig{}) // as the agent serves HTTPS
	at := &abuseTarget{addr: addr, front: fr, stop: make(chan struct{})}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	at.heap0 = ms.HeapAlloc
	at.wg.Add(2)
	go at.ask(t)
	go at.watchHeap()
	t.Cleanup(func() { close(at.stop); at.wg.Wait() }) // before the front closes
	return at
}

// ask is the well-behaved client: HTTP/2 and HTTP/1.1 requests in turn,
// each on a new connection, so that it also needs the listener to accept.
func (at *abuseTarget) ask(t *testing.T) {
	defer at.wg.Done()
	for i := 0; ; i++ {
		select {
		case <-at.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: i%2 == 0}
		if i%2 == 1 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		req, _ := http.NewRequest("GET", "https://"+at.addr+"/", nil)
		req.Host = "app.localhost"
		resp, err := c.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "web.1" {
				err = errors.New(resp.Status + " " + string(b))
			}
		}
		tr.CloseIdleConnections()
		if err != nil {
			at.bad.Add(1)
			at.lastErr.Store(err.Error())
		} else {
			at.good.Add(1)
		}
	}
}

func (at *abuseTarget) watchHeap() {
	defer at.wg.Done()
	var ms runtime.MemStats
	for {
		runtime.ReadMemStats(&ms)
		if ms.HeapAlloc > at.heapMax.Load() {
			at.heapMax.Store(ms.HeapAlloc)
		}
		select {
		case <-at.stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// check waits for the well-behaved client to be answered a few more times
// after the attack, then asserts the heap bound and that it was always
// served.
func (at *abuseTarget) check(t *testing.T) {
	t.Helper()
	after := at.good.Load() + at.bad.Load() + 5
	eventually(t, 10*time.Second, "the well-behaved client asking after the attack", func() bool {
		return at.good.Load()+at.bad.Load() >= after
	})
	if grew := int64(at.heapMax.Load()) - int64(at.heap0); grew > abuseHeapBound {
		t.Errorf("the heap grew by %d MB during the attack, want at most %d MB", grew>>20, abuseHeapBound>>20)
	}
	if at.good.Load() == 0 || at.bad.Load() > 0 {
		t.Errorf("the well-behaved client got %d answers and %d failures (last: %v)", at.good.Load(), at.bad.Load(), at.lastErr.Load())
	}
	t.Logf("heap peak +%d KB; well-behaved client: %d answers", (int64(at.heapMax.Load())-int64(at.heap0))>>10, at.good.Load())
}

// h2Attacker is a raw HTTP/2 client connection.
type h2Attacker struct {
	t  *testing.T
	c  *tls.Conn
	fr *http2.Framer
}

func dialH2(t *testing.T, addr string) *h2Attacker {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	return &h2Attacker{t: t, c: c, fr: fr}
}

// headerBlock encodes a GET for the app, with extra headers.
func headerBlock(extra ...string) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", "app.localhost"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	for i := 0; i+1 < len(extra); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: extra[i], Value: extra[i+1]})
	}
	return buf.Bytes()
}

// drain reads frames until the connection ends, and reports whether a
// GOAWAY came, how long until the end, and how many frames were read.
func (a *h2Attacker) drain(bound time.Duration) (goaway bool, frames int, took time.Duration, err error) {
	start := time.Now()
	a.c.SetReadDeadline(start.Add(bound))
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			return goaway, frames, time.Since(start), err
		}
		frames++
		if _, ok := f.(*http2.GoAwayFrame); ok {
			goaway = true
		}
	}
}

// flood writes frames with write until a write fails (the server closed
// the connection) or bound passes; it returns how long the server took and
// how many rounds it let through.
func flood(bound time.Duration, write func(i int) error) (took time.Duration, rounds int, cut bool) {
	start := time.Now()
	for i := 0; time.Since(start) < bound; i++ {
		if err := write(i); err != nil {
			return time.Since(start), i, true
		}
	}
	return time.Since(start), 0, false
}

// readAll reads and drops frames in the background, so that the server's
// answers never block it; it ends with the connection.
func (a *h2Attacker) readAll() <-chan error {
	done := make(chan error, 1)
	go func() {
		for {
			if _, err := a.fr.ReadFrame(); err != nil {
				done <- err
				return
			}
		}
	}()
	return done
}

const abuseBound = 10 * time.Second

// TestHTTP2FloodsAreCutOff: rapid reset, CONTINUATION, SETTINGS and PING
// floods. The SETTINGS and PING floods do not read the server's
// acknowledgements, as an attacker filling the server's queue would not.
func TestHTTP2FloodsAreCutOff(t *testing.T) {
	block := headerBlock()
	// Each CONTINUATION adds a literal header of 16 KB, never ending.
	var buf bytes.Buffer
	hpack.NewEncoder(&buf).WriteField(hpack.HeaderField{Name: "x-flood", Value: strings.Repeat("a", 16<<10)})
	frag := buf.Bytes()
	for _, tc := range []struct {
		name  string
		read  bool
		start func(fr *http2.Framer) error
		write func(fr *http2.Framer, i int) error
	}{
		{"rapid reset: HEADERS and RST_STREAM", true, nil, func(fr *http2.Framer, i int) error {
			id := uint32(2*i + 1)
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
				return err
			}
			return fr.WriteRSTStream(id, http2.ErrCodeCancel)
		}},
		{"CONTINUATION without END_HEADERS", true, func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: true})
		}, func(fr *http2.Framer, _ int) error { return fr.WriteContinuation(1, false, frag) }},
		{"SETTINGS", false, nil, func(fr *http2.Framer, _ int) error { return fr.WriteSettings() }},
		{"PING", false, nil, func(fr *http2.Framer, i int) error { return fr.WritePing(false, [8]byte{byte(i)}) }},
		{"WINDOW_UPDATE", false, nil, func(fr *http2.Framer, _ int) error { return fr.WriteWindowUpdate(0, 1) }},
		{"PRIORITY", false, nil, func(fr *http2.Framer, i int) error {
			return fr.WritePriority(uint32(2*i+1), http2.PriorityParam{Weight: 15})
		}},
		{"empty DATA", true, func(fr *http2.Framer) error {
			return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true})
		}, func(fr *http2.Framer, _ int) error { return fr.WriteData(1, false, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			at := newAbuseTarget(t)
			a := dialH2(t, at.addr)
			var read <-chan error
			if tc.read {
				read = a.readAll()
			}
			if tc.start != nil {
				if err := tc.start(a.fr); err != nil {
					t.Fatal(err)
				}
			}
			took, rounds, cut := flood(abuseBound, func(i int) error { return tc.write(a.fr, i) })
			if !cut {
				t.Fatalf("a flood for %s: the connection is still open", abuseBound)
			}
			if read != nil {
				<-read
			}
			t.Logf("cut after %d rounds, %s", rounds, took.Round(time.Millisecond))
			at.check(t)
		})
	}
}

// A request whose header block trickles in, one small CONTINUATION a
// second, is cut off like an HTTP/1.1 slowloris client.
func TestHTTP2SlowHeadersAreCutOff(t *testing.T) {
	t.Parallel()
	at := newAbuseTarget(t)
	a := dialH2(t, at.addr)
	read := a.readAll()
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock(), EndStream: true}); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	hpack.NewEncoder(&buf).WriteField(hpack.HeaderField{Name: "x-slow", Value: "a"})
	start := time.Now()
	for time.Since(start) < ServerReadHeaderTimeout+5*time.Second {
		if err := a.fr.WriteContinuation(1, false, buf.Bytes()); err != nil {
			break
		}
		select {
		case err := <-read:
			took := time.Since(start)
			t.Logf("slow HTTP/2 headers cut after %s (%v)", took.Round(100*time.Millisecond), err)
			at.check(t)
			return
		case <-time.After(time.Second):
		}
	}
	t.Fatalf("a header block trickling for %s: the connection is still open", time.Since(start).Round(time.Second))
}

// Headers over the cap get 431 (or the connection closed) without the
// server holding them.
func TestHTTP2HugeHeadersAreRefused(t *testing.T) {
	t.Parallel()
	at := newAbuseTarget(t)
	a := dialH2(t, at.addr)
	block := headerBlock("x-big", strings.Repeat("a", 1<<20))
	const frame = 16 << 10
	first := true
	for len(block) > 0 {
		n := min(frame, len(block))
		var err error
		if first {
			err = a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:n], EndStream: true, EndHeaders: n == len(block)})
			first = false
		} else {
			err = a.fr.WriteContinuation(1, n == len(block), block[:n])
		}
		if err != nil {
			break // the server closed the connection: refused
		}
		block = block[n:]
	}
	a.c.SetReadDeadline(time.Now().Add(abuseBound))
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			t.Logf("1 MB of headers: connection closed (%v)", err)
			break
		}
		if h, ok := f.(*http2.MetaHeadersFrame); ok && h.StreamID == 1 {
			if st := h.PseudoValue("status"); st != "431" {
				t.Errorf("1 MB of headers got %s, want 431", st)
			}
			break
		}
		if rst, ok := f.(*http2.RSTStreamFrame); ok && rst.StreamID == 1 {
			break
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			break
		}
	}
	at.check(t)
}

func TestHTTPSSlowlorisIsCutOff(t *testing.T) {
	t.Parallel()
	at := newAbuseTarget(t)
	c := dialHTTPS1(t, at.addr)
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.localhost\r\n")
	start := time.Now()
	closed := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, c); closed <- err }()
	for {
		select {
		case err := <-closed:
			took := time.Since(start)
			if took > ServerReadHeaderTimeout+2*time.Second {
				t.Errorf("the slowloris connection lasted %s, want it cut at %s", took, ServerReadHeaderTimeout)
			}
			t.Logf("HTTPS slowloris cut after %s (%v)", took.Round(100*time.Millisecond), err)
			at.check(t)
			return
		case <-time.After(time.Second):
			if time.Since(start) > ServerReadHeaderTimeout+5*time.Second {
				t.Fatalf("the slowloris connection is still open after %s", time.Since(start).Round(time.Second))
			}
			io.WriteString(c, "X-Slow: a\r\n")
		}
	}
}

func TestHTTPSHugeHeadersAreRefused(t *testing.T) {
	t.Parallel()
	at := newAbuseTarget(t)
	c := dialHTTPS1(t, at.addr)
	c.SetDeadline(time.Now().Add(abuseBound))
	go io.WriteString(c, "GET / HTTP/1.1\r\nHost: app.localhost\r\nX-Big: "+strings.Repeat("a", 1<<20)+"\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !strings.Contains(string(b), " 431 ") {
		t.Errorf("1 MB of headers got %q, want 431", firstLine(b))
	}
	at.check(t)
}

// dialHTTPS1 opens a TLS connection that speaks HTTP/1.1, closed when the
// test ends.
func dialHTTPS1(t *testing.T, addr string) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\r\n")
	return s
}
