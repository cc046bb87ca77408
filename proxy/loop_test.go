//go:build linux

package proxy

import (
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func loopCounts(f *front) (uint64, uint64) { return f.srv.LoopCounts() }

// appProxy is a proxy with one app, at app.localhost, served by u.
func appProxy(t *testing.T, u *upstream) *Proxy {
	t.Helper()
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{appRoute("app", u)})
	return p
}

// serveFrontAs serves p with a Front that setup configures, on 127.0.0.1;
// it returns the Front and its address.
func serveFrontAs(t *testing.T, p *Proxy, setup func(*Front)) (*Front, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFront(p, l.Addr().String())
	setup(fr)
	served := make(chan error, 1)
	go func() { served <- fr.Serve(l) }()
	t.Cleanup(func() { fr.Close(); <-served })
	return fr, l.Addr().String()
}

func TestLoopServesKeepAliveAndPipelinedRequests(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u)})
	rc := dialRaw(t, f.srv.Listener.Addr().String())
	rc.send("GET /a?x=1 HTTP/1.1\r\nHost: app.localhost\r\nX-Forwarded-For: 6.6.6.6\r\nX-Request-Id: abc-123\r\nConnection: x-gone\r\nX-Gone: 1\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || body != "web.1" || resp.ContentLength != 5 {
		t.Fatalf("first answer %d %q (length %d)", resp.StatusCode, body, resp.ContentLength)
	}
	h := resp.Header
	for k, want := range map[string]string{
		"Echo-Host": "app.localhost", "Echo-X-Forwarded-For": "127.0.0.1", "Echo-X-Forwarded-Proto": "http",
		"Echo-X-Forwarded-Host": "app.localhost", "Echo-X-Request-Id": "abc-123", "X-Request-Id": "abc-123",
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN",
		"Referrer-Policy": "strict-origin-when-cross-origin", "Content-Type": "text/plain; charset=utf-8",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if h.Get("Date") == "" {
		t.Error("no Date")
	}
	// Two requests in one write: both answered, in order.
	rc.send("GET /b HTTP/1.1\r\nHost: app.localhost\r\n\r\nHEAD /c HTTP/1.1\r\nHost: APP.localhost:80\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "web.1" {
		t.Fatalf("pipelined GET: %d %q", resp.StatusCode, body)
	}
	resp, body = rc.read("HEAD")
	if resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %d %q, length %d", resp.StatusCode, body, resp.ContentLength)
	}
	if looped, handed := loopCounts(f); looped != 3 || handed != 0 {
		t.Fatalf("looped %d, handed over %d: want 3 requests in the loop on one connection", looped, handed)
	}
	if lean, handed := leanCounts(f); lean != 0 || handed != 0 {
		t.Fatalf("Front's goroutines served %d requests and handed %d over", lean, handed)
	}
	if u.hits.Load() != 3 {
		t.Errorf("the instance saw %d requests, want 3", u.hits.Load())
	}
	l := f.lastLog()
	if l.App != "app" || l.Method != "HEAD" || l.Path != "/c" || l.Status != 200 || l.Upstream != "web.1" || l.ClientIP != "127.0.0.1" || l.RequestID == "" {
		t.Errorf("log line %+v", l)
	}
	rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n")
	resp, _ = rc.read("GET")
	if !resp.Close || !rc.closed() {
		t.Fatal("Connection: close was not honoured")
	}
}

// TestLoopAnswersAsFrontsGoroutinesDo sends the same requests through
// Front with and without event loops, to an instance that answers in
// every framing, and compares what the client gets.
func TestLoopAnswersAsFrontsGoroutinesDo(t *testing.T) {
	html := "<!doctype html><p>" + strings.Repeat("hi ", 10)
	u := newRawUpstream(t, map[string]string{
		"/length":   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Request-Id: theirs\r\n\r\nhello",
		"/chunked":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n<pause>6\r\n world\r\n0\r\nX-Sum: 42\r\n\r\n",
		"/sniff":    "HTTP/1.1 200 OK\r\nContent-Length: " + fmt.Sprint(len(html)) + "\r\n\r\n" + html,
		"/sniff-ch": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + fmt.Sprintf("%x\r\n%s\r\n0\r\n\r\n", len(html), html),
		"/gzip":     "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc",
		"/empty":    "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"/204":      "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
		"/304":      "HTTP/1.1 304 Not Modified\r\nEtag: \"x\"\r\n\r\n",
		"/hop":      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: x-private, keep-alive\r\nX-Private: 1\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
		"/frame":    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Frame-Options: SAMEORIGIN\r\nReferrer-Policy: no-referrer\r\nContent-Length: 2\r\n\r\nok",
		"/hints":    "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"/continue": "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"/status":   "HTTP/1.1 418 Teapot\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\ntea",
		"/bare":     "HTTP/1.1 299\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"/old":      "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end",
		"/bad":      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"/junk":     "HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok",
		"/cut":      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly this<pause><close>",
	})
	type result struct {
		status  int
		body    string
		header  http.Header
		trailer http.Header
		err     error
		chunked bool
	}
	get := func(f *front, method, path string) result {
		rc := dialRaw(t, f.srv.Listener.Addr().String())
		rc.send(method + " " + path + " HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
		resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
		if err != nil {
			return result{err: err}
		}
		b, err := io.ReadAll(resp.Body)
		b = requestIDs.ReplaceAll(b, []byte("request ID"))
		h := resp.Header.Clone()
		h.Del("Date")
		h.Del("X-Request-Id")
		return result{status: resp.StatusCode, body: string(b), header: h, trailer: resp.Trailer, err: err,
			chunked: slices.Contains(resp.TransferEncoding, "chunked")}
	}
	loops := newFront(t, Config{})
	loops.SetRoutes([]Route{u.route()})
	gor := newGoroutineFront(t, Config{})
	gor.SetRoutes([]Route{u.route()})
	for _, tc := range []struct {
		method, path string
		sameHead     bool // the whole head agrees, not only status and body
	}{
		{"GET", "/length", true}, {"HEAD", "/length", true}, {"GET", "/chunked", true}, {"GET", "/sniff", true},
		{"GET", "/sniff-ch", true}, {"GET", "/gzip", true}, {"GET", "/empty", true}, {"GET", "/204", true},
		{"GET", "/304", true}, {"GET", "/hop", true}, {"GET", "/frame", true}, {"GET", "/hints", true},
		{"GET", "/continue", true}, {"GET", "/status", true}, {"GET", "/bare", true},
		{"GET", "/old", false}, {"GET", "/bad", false}, {"GET", "/junk", false}, {"GET", "/cut", false},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			want, got := get(gor, tc.method, tc.path), get(loops, tc.method, tc.path)
			if got.status != want.status || got.body != want.body || (got.err == nil) != (want.err == nil) {
				t.Fatalf("loop: %d %q %v; goroutines: %d %q %v", got.status, got.body, got.err, want.status, want.body, want.err)
			}
			if !tc.sameHead {
				return
			}
			want.header.Del("Content-Length") // net/http may add one where the instance streamed
			got.header.Del("Content-Length")
			if fmt.Sprint(got.header) != fmt.Sprint(want.header) {
				t.Errorf("head:\nloop       %v\ngoroutines %v", got.header, want.header)
			}
			if fmt.Sprint(got.trailer) != fmt.Sprint(want.trailer) || got.chunked != want.chunked {
				t.Errorf("trailer: loop %v (chunked %v), goroutines %v (chunked %v)", got.trailer, got.chunked, want.trailer, want.chunked)
			}
			gl, wl := loops.lastLogOf(tc.path), gor.lastLogOf(tc.path)
			if gl.Path != tc.path || gl.Status != wl.Status || gl.Bytes != wl.Bytes || gl.Error != wl.Error {
				t.Errorf("log line: loop %+v, goroutines %+v", gl, wl)
			}
		})
	}
	if looped, _ := loopCounts(loops); looped < 19 {
		t.Errorf("the loops served %d of the requests", looped)
	}
	if lean, _ := leanCounts(gor); lean < 19 {
		t.Errorf("Front's goroutines served %d of the requests", lean)
	}
	// The early hint reaches the client before the answer.
	rc := dialRaw(t, loops.srv.Listener.Addr().String())
	rc.send("GET /hints HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	line, _ := rc.br.ReadString('\n')
	if line != "HTTP/1.1 103 Early Hints\r\n" {
		t.Errorf("first line %q, want the 103", line)
	}
}

var requestIDs = regexp.MustCompile(`request [0-9a-f-]{36}`)

func TestLoopHandsOverWhatItDoesNotServe(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{ControlHost: "pier.localhost", Control: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "control")
	})})
	limited := appRoute("slow", u)
	limited.RateLimit = RateLimit{RPS: 1, Burst: 1}
	down := Route{App: "down", Hosts: []string{"down.localhost"}, Maintenance: true, Upstreams: []Upstream{u.up("blue")}}
	f.SetRoutes([]Route{appRoute("app", u), limited, down})
	addr := f.srv.Listener.Addr().String()
	for _, tc := range []struct {
		name, req string
		status    int
		body      string
	}{
		{"a chunked body", "POST /body HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "3"},
		{"a body larger than the buffer", "PUT /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("b", 5000), 200, "5000"},
		{"Expect: 100-continue", "POST /body HTTP/1.1\r\nHost: app.localhost\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", 200, "2"},
		{"the control host", "GET / HTTP/1.1\r\nHost: pier.localhost\r\n\r\n", 200, "control"},
		{"an unknown host", "GET / HTTP/1.1\r\nHost: nope.localhost\r\n\r\n", 404, ""},
		{"maintenance", "GET / HTTP/1.1\r\nHost: down.localhost\r\n\r\n", 503, ""},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: app.localhost\r\n\r\n", 200, "web.1"},
		{"a bare LF", "GET / HTTP/1.1\nHost: app.localhost\n\n", 200, "web.1"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", 400, ""},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: app.localhost\r\nHost: b\r\n\r\n", 400, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, before := loopCounts(f)
			rc := dialRaw(t, addr)
			rc.send(tc.req)
			method, _, _ := strings.Cut(tc.req, " ")
			resp, body := rc.read(method)
			if resp.StatusCode == http.StatusContinue {
				resp, body = rc.read(method)
			}
			if resp.StatusCode != tc.status || tc.body != "" && body != tc.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
			if _, after := loopCounts(f); after != before+1 {
				t.Errorf("handed over %d connections, want 1", after-before)
			}
			if resp.StatusCode == 400 || resp.Close {
				return
			}
			// The connection goes on, on Front's goroutines.
			rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "web.1" {
				t.Fatalf("the next request: %d %q", resp.StatusCode, body)
			}
		})
	}
	// Over its rate limit, a client gets Front's 429.
	rc := dialRaw(t, addr)
	statuses := []int{}
	for range 3 {
		rc.send("GET / HTTP/1.1\r\nHost: slow.localhost\r\n\r\n")
		resp, _ := rc.read("GET")
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[2] != 429 {
		t.Errorf("rate-limited statuses %v, want 200 first and 429 last", statuses)
	}
}

func TestLoopCutsTheInstanceWhenTheClientLeaves(t *testing.T) {
	gone := make(chan time.Duration, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		switch r.URL.Path {
		case "/think":
			select {
			case <-r.Context().Done():
				gone <- time.Since(start)
			case <-time.After(10 * time.Second):
			}
		case "/slow":
			time.Sleep(500 * time.Millisecond)
			io.WriteString(w, "slow answer")
		default:
			io.WriteString(w, "quick")
		}
	}))
	t.Cleanup(up.Close)
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	addr := f.srv.Listener.Addr().String()

	// A slow answer with the next request pipelined behind it.
	rc := dialRaw(t, addr)
	rc.send("GET /slow HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	rc.send("GET /next HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "slow answer" {
		t.Fatalf("slow request: %d %q", resp.StatusCode, body)
	}
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "quick" {
		t.Fatalf("pipelined request after it: %d %q", resp.StatusCode, body)
	}

	rc2 := dialRaw(t, addr)
	rc2.send("GET /think HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	rc2.c.Close()
	select {
	case d := <-gone:
		if d > time.Second {
			t.Errorf("the app's request was cancelled %v after it began", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the app's request was not cancelled after its client left")
	}
	eventually(t, 2*time.Second, "a 499 log line", func() bool {
		l := f.lastLog()
		return l.Path == "/think" && l.Status == statusClientClosed
	})
	if looped, handed := loopCounts(f); looped != 3 || handed != 0 {
		t.Errorf("looped %d, handed over %d", looped, handed)
	}
}

func TestLoopWhenInstancesFail(t *testing.T) {
	t.Run("an instance that cannot be reached", func(t *testing.T) {
		deadAddr := closedAddr(t)
		live := newUpstream(t, "web.2")
		f := newFront(t, Config{})
		f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{
			{Addr: deadAddr, Name: "web.1"}, live.up("blue")}}})
		rc := dialRaw(t, f.srv.Listener.Addr().String())
		for i := range 4 {
			rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "web.2" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
		}
		if got := f.Healthy("app"); len(got) != 1 || got[0].Name != "web.2" {
			t.Errorf("in rotation: %v, want web.2 alone", got)
		}
	})
	t.Run("an instance that closes idle connections", func(t *testing.T) {
		up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
		up.Config.IdleTimeout = 50 * time.Millisecond
		up.Start()
		t.Cleanup(up.Close)
		f := newFront(t, Config{})
		f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
		rc := dialRaw(t, f.srv.Listener.Addr().String())
		for i := range 5 {
			rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
			if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
			}
			time.Sleep(time.Duration(i) * 40 * time.Millisecond) // across the instance's idle timeout
		}
	})
	t.Run("malformed, cut and late answers", func(t *testing.T) {
		u := newRawUpstream(t, map[string]string{
			"/junk": "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
			"/cut":  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\nonly this<pause><close>",
			"/half": "HTTP/1.1 200 OK\r\nContent-Le<pause><close>",
			"/late": strings.Repeat("<pause>", 20) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
			"/ok":   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		})
		f := newFront(t, Config{ResponseHeaderTimeout: 200 * time.Millisecond})
		f.SetRoutes([]Route{u.route()})
		rc := dialRaw(t, f.srv.Listener.Addr().String())
		for _, tc := range []struct {
			path   string
			status int
		}{{"/junk", 502}, {"/ok", 200}, {"/half", 502}, {"/ok", 200}, {"/late", 504}, {"/ok", 200}} {
			rc.send("GET " + tc.path + " HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
			resp, body := rc.read("GET")
			if resp.StatusCode != tc.status {
				t.Fatalf("%s: %d %q, want %d", tc.path, resp.StatusCode, body, tc.status)
			}
			if tc.status != 200 && (resp.Header.Get("X-Request-Id") == "" || !strings.Contains(body, resp.Header.Get("X-Request-Id"))) {
				t.Errorf("%s: the error page does not show its request ID: %v %q", tc.path, resp.Header, body)
			}
		}
		eventually(t, 2*time.Second, "the last log line", func() bool { return f.lastLog().Status == 200 })
		rc.send("GET /cut HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
		resp, err := http.ReadResponse(rc.br, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadAll(resp.Body); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("a cut answer read as %v, want an unexpected EOF", err)
		}
		eventually(t, 2*time.Second, "the cut answer's log line", func() bool {
			l := f.lastLog()
			return l.Path == "/cut" && strings.Contains(l.Error, "closed in the middle")
		})
	})
}

// TestLoopHoldsBackAnInstanceForASlowClient: a large answer to a client
// that does not read is not read from the instance past a bound, and
// arrives whole once the client reads, though the instance closed the
// connection after writing it.
func TestLoopHoldsBackAnInstanceForASlowClient(t *testing.T) {
	const size = 64 << 20
	var written atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(size))
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Connection", "close") // its close comes while the loop holds it back
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		for n := 0; n < size; n += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
			written.Add(int64(len(chunk)))
		}
	}))
	t.Cleanup(up.Close)
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	rc := dialRaw(t, f.srv.Listener.Addr().String())
	rc.c.(*net.TCPConn).SetReadBuffer(64 << 10)
	rc.send("GET /big HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	time.Sleep(2 * time.Second)
	if w := written.Load(); w > size*3/8 { // kernel buffers take 8-14 MB of it here
		t.Errorf("the instance wrote %d MB while the client read nothing", w>>20)
	}
	rc.c.SetDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	if err != nil || n != size {
		t.Fatalf("read %d bytes, %v", n, err)
	}
	if looped, _ := loopCounts(f); looped != 1 {
		t.Errorf("looped %d", looped)
	}
}

func TestChunkScannerFindsTheEndOfEveryBody(t *testing.T) {
	bodies := []string{
		"0\r\n\r\n",
		"5\r\nhello\r\n0\r\n\r\n",
		"5;a=b\r\nhello\r\n6 \t\r\n world\r\n1;c\r\n!\r\n0\r\nX-Sum: 1\r\nX-Other: 2\r\n\r\n",
		"A\r\n0123456789\r\n0;last\r\n\r\n",
	}
	for _, body := range bodies {
		whole := body + "GET /next" // what follows the body is not its
		for split := 0; split <= len(whole); split++ {
			var s chunkScanner
			n1, done1, err := s.scan([]byte(whole[:split]))
			if err != nil {
				t.Fatalf("%q split at %d: %v", body, split, err)
			}
			n := n1
			if !done1 {
				n2, done2, err := s.scan([]byte(whole[split:]))
				if err != nil || !done2 {
					t.Fatalf("%q split at %d: done %v, %v", body, split, done2, err)
				}
				n += n2
			}
			if n != len(body) {
				t.Fatalf("%q split at %d: the body ends at %d, want %d", body, split, n, len(body))
			}
		}
	}
	for _, bad := range []string{
		"x\r\n", "5\nhello\r\n", "5\r\nhelloX\r\n", "0\r\n\n", "\r\n", "5\r\nhello\r\n0\r\nX: 1\n\r\n",
		"1000000000000000\r\n", ";\r\n", "6 ; c\r\n", "5\r\nhello\r\n0\r\n folded\r\n\r\n", "5;a\rb\r\n",
	} {
		var s chunkScanner
		if _, done, err := s.scan([]byte(bad)); err == nil {
			t.Errorf("%q: no error (done %v)", bad, done)
		}
	}
}

// TestFrontCapsConnections: with MaxConns, a connection past the cap waits
// until one closes, whether the open ones are in the loops, on goroutines,
// or were handed from one to the other.
func TestFrontCapsConnections(t *testing.T) {
	u := newUpstream(t, "web.1")
	for _, loops := range []bool{true, false} {
		t.Run(fmt.Sprintf("loops=%v", loops), func(t *testing.T) {
			p := appProxy(t, u)
			_, addr := serveFrontAs(t, p, func(fr *Front) {
				fr.MaxConns = 2
				if loops {
					fr.Loop = &LoopConfig{Proxy: p}
				}
			})
			get := "GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n"
			post := "POST /body HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
			a, b := dialRaw(t, addr), dialRaw(t, addr)
			a.send(get)
			a.read("GET")
			b.send(post) // handed to a goroutine where there are loops
			b.read("POST")
			c := dialRaw(t, addr)
			c.send(get)
			c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := c.br.ReadByte(); err == nil {
				t.Fatal("a third connection was served with MaxConns 2")
			}
			b.c.Close()
			c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "web.1" {
				t.Fatalf("the third connection, once one closed: %d %q", resp.StatusCode, body)
			}
			a.c.Close()
			d := dialRaw(t, addr)
			d.send(get)
			if resp, _ := d.read("GET"); resp.StatusCode != 200 {
				t.Fatalf("a fourth connection, once another closed: %d", resp.StatusCode)
			}
		})
	}
}

// TestLoopUnderMixedConcurrentTraffic: many clients at once, each mixing
// requests the loops serve with ones they hand over, pipelined and not,
// while instances come and go; every answer is right and goes to the
// client that asked.
func TestLoopUnderMixedConcurrentTraffic(t *testing.T) {
	u1, u2 := newUpstream(t, "web.1"), newUpstream(t, "web.2")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u1, u2)})
	addr := f.srv.Listener.Addr().String()
	stop := make(chan struct{})
	churned := make(chan struct{})
	go func() { // the route table changes under the traffic
		defer close(churned)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if i%2 == 0 {
				f.SetRoutes([]Route{appRoute("app", u2)})
			} else {
				f.SetRoutes([]Route{appRoute("app", u1, u2)})
			}
		}
	}()
	errs := make(chan error, 16)
	for client := range 16 {
		go func() {
			errs <- func() error {
				c, err := net.DialTimeout("tcp", addr, 5*time.Second)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				br := bufio.NewReader(c)
				for i := range 60 {
					id := fmt.Sprintf("c%d-%d", client, i)
					var reqs, methods []string
					switch (client + i) % 5 {
					case 0, 1: // one GET
						reqs = []string{"GET /" + id + " HTTP/1.1\r\nHost: app.localhost\r\nX-Request-Id: " + id + "\r\n\r\n"}
						methods = []string{"GET"}
					case 2: // pipelined GET and HEAD
						reqs = []string{"GET /" + id + " HTTP/1.1\r\nHost: app.localhost\r\nX-Request-Id: " + id + "\r\n\r\n" +
							"HEAD /" + id + " HTTP/1.1\r\nHost: app.localhost\r\nX-Request-Id: " + id + "\r\n\r\n"}
						methods = []string{"GET", "HEAD"}
					case 3: // a small POST; late in the run a chunked one, which
						// takes the connection to a goroutine
						te := "Content-Length: 2\r\n\r\nhi"
						if i > 50 {
							te = "Transfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
						}
						reqs = []string{"POST /body HTTP/1.1\r\nHost: app.localhost\r\nX-Request-Id: " + id + "\r\n" + te}
						methods = []string{"POST"}
					case 4: // a target with escapes and a query to clean
						reqs = []string{"GET /" + id + "/%7Ex?q=a;b HTTP/1.1\r\nHost: app.localhost\r\nX-Request-Id: " + id + "\r\n\r\n"}
						methods = []string{"GET"}
					}
					for _, r := range reqs {
						if _, err := io.WriteString(c, r); err != nil {
							return err
						}
					}
					for _, m := range methods {
						resp, err := http.ReadResponse(br, &http.Request{Method: m})
						if err != nil {
							return fmt.Errorf("%s %s: %v", m, id, err)
						}
						b, err := io.ReadAll(resp.Body)
						if err != nil {
							return fmt.Errorf("%s %s: body: %v", m, id, err)
						}
						if resp.StatusCode != 200 || resp.Header.Get("X-Request-Id") != id {
							return fmt.Errorf("%s %s: %d, request ID %q", m, id, resp.StatusCode, resp.Header.Get("X-Request-Id"))
						}
						want := resp.Header.Get("X-Upstream")
						if m == "POST" {
							want = "2"
						}
						if m != "HEAD" && string(b) != want || want == "" {
							return fmt.Errorf("%s %s: body %q from %q", m, id, b, resp.Header.Get("X-Upstream"))
						}
					}
				}
				return nil
			}()
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	close(stop)
	<-churned
	looped, handed := loopCounts(f)
	if looped < 16*50 || handed == 0 {
		t.Errorf("looped %d requests and handed over %d connections", looped, handed)
	}
}

// TestLoopCutsOffSlowAndIdleClients: a head that does not arrive in time
// (slowloris) and a keep-alive connection left idle are closed.
func TestLoopCutsOffSlowAndIdleClients(t *testing.T) {
	p := appProxy(t, newUpstream(t, "web.1"))
	fr, addr := serveFrontAs(t, p, func(fr *Front) {
		fr.Loop = &LoopConfig{Proxy: p, headerTimeout: 300 * time.Millisecond, idleTimeout: 600 * time.Millisecond}
	})

	start := time.Now()
	slow := dialRaw(t, addr)
	slow.send("GET / HTTP/1.1\r\nHost: app.loc")
	go func() { // a byte now and then does not extend the head's time
		for range 20 {
			time.Sleep(100 * time.Millisecond)
			if _, err := slow.c.Write([]byte("a")); err != nil {
				return
			}
		}
	}()
	if !slow.closed() || time.Since(start) > 1200*time.Millisecond {
		t.Errorf("a slow head's connection was not closed in time (%v)", time.Since(start))
	}

	idle := dialRaw(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, _ := idle.read("GET"); resp.StatusCode != 200 {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
	start = time.Now()
	if !idle.closed() || time.Since(start) < 400*time.Millisecond {
		t.Errorf("an idle connection closed after %v, want its idle timeout", time.Since(start))
	}
	if looped, handed := fr.LoopCounts(); looped != 1 || handed != 0 {
		t.Errorf("looped %d, handed over %d", looped, handed)
	}
}

// TestLoopHandsOverBehindALargeAnswer: requests pipelined behind a large
// answer, one the loops hand over and one after it, are answered after it,
// in order.
func TestLoopHandsOverBehindALargeAnswer(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 1<<20) // 16 MB
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, big)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d", r.Method, len(b))
	}))
	t.Cleanup(up.Close)
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	rc := dialRaw(t, f.srv.Listener.Addr().String())
	rc.send("GET /big HTTP/1.1\r\nHost: app.localhost\r\n\r\n" +
		"POST /body HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
		"GET /after HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != big {
		t.Fatalf("GET /big: %d, %d bytes", resp.StatusCode, len(body))
	}
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != "POST 3" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "GET 0" {
		t.Fatalf("GET /after: %d %q", resp.StatusCode, body)
	}
	if looped, handed := loopCounts(f); looped != 1 || handed != 1 {
		t.Errorf("looped %d, handed over %d: want the first request in the loop, then the connection handed over", looped, handed)
	}
}

// TestLoopHandsOverOnlyOnceItsAnswersAreWritten: a connection the loop
// hands over while the client has not yet read what the loop owes it goes
// to a goroutine only once that is written, so its answers stay in order.
// The client is one end of a socket pair, the other in a loop that holds
// 1 MB for it, as after a large answer.
func TestLoopHandsOverOnlyOnceItsAnswersAreWritten(t *testing.T) {
	p := appProxy(t, newUpstream(t, "web.1"))
	fr := NewFront(p, "127.0.0.1:0")
	fr.Loop = &LoopConfig{Proxy: p, Loops: 1}
	g, err := newLoopGroup(fr, fr.Loop)
	if err != nil {
		t.Fatal(err)
	}
	fr.loops.Store(g)
	go fr.std.Serve(fr.handoff) // as Serve starts it
	t.Cleanup(func() { fr.Close() })
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.SetNonblock(fds[0], true)
	cf := os.NewFile(uintptr(fds[1]), "client")
	client, err := net.FileConn(cf)
	cf.Close() // not unix.Close: the File would close the number again when collected
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	owed := strings.Repeat("x", 1<<20)
	l := g.loops[0]
	l.post(func() {
		l.addClient(fds[0], netip.MustParseAddrPort("127.0.0.1:1"), func() {})
		c := l.conns[int32(fds[0])]
		c.out = append(c.out, owed...)
		c.in = append(c.in, "POST /body HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"...)
		l.serveClient(c) // not the loop's: handed over behind what it owes
	})
	client.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(client)
	got := make([]byte, len(owed))
	if _, err := io.ReadFull(br, got); err != nil || string(got) != owed {
		t.Fatalf("reading what the loop owed: %v", err)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || string(b) != "2" {
		t.Fatalf("the POST, after: %d %q", resp.StatusCode, b)
	}
	if looped, handed := fr.LoopCounts(); looped != 0 || handed != 1 {
		t.Errorf("looped %d, handed over %d", looped, handed)
	}
	// The socket left the loop's epoll set, though a descriptor of it
	// lives on: else the loop would hear of it under a number it reuses.
	watched := make(chan string, 1)
	l.post(func() {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/self/fdinfo/%d", l.epfd))
		watched <- string(b)
	})
	if info := <-watched; strings.Count(info, "tfd:") != 1 {
		t.Errorf("the loop's epoll set after the hand-over (its eventfd alone expected):\n%s", info)
	}
}

// TestLoopForwardsSmallBodies: a request whose body fits in the
// connection's buffer with its head stays in the loop, whatever its
// method, also when the body comes in two parts; one the instance drops
// unanswered is sent again only when it may be.
func TestLoopForwardsSmallBodies(t *testing.T) {
	var got atomic.Value
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.Store(fmt.Sprintf("%s %s cl=%d te=%v type=%s body=%s", r.Method, r.URL.Path, r.ContentLength, r.TransferEncoding, r.Header.Get("Content-Type"), b))
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	rc := dialRaw(t, f.srv.Listener.Addr().String())
	json := `{"prompt":"hello"}`
	for _, tc := range []struct{ req, method, want string }{
		{"POST /chat HTTP/1.1\r\nHost: app.localhost\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n" + json, "POST",
			"POST /chat cl=18 te=[] type=application/json body=" + json},
		{"PUT /doc HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 3\r\n\r\nabc", "PUT", "PUT /doc cl=3 te=[] type= body=abc"},
		{"PATCH /doc HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 0\r\n\r\n", "PATCH", "PATCH /doc cl=0 te=[] type= body="},
		{"POST /empty HTTP/1.1\r\nHost: app.localhost\r\n\r\n", "POST", "POST /empty cl=0 te=[] type= body="},
		{"DELETE /doc HTTP/1.1\r\nHost: app.localhost\r\n\r\n", "DELETE", "DELETE /doc cl=0 te=[] type= body="},
		{"OPTIONS /doc HTTP/1.1\r\nHost: app.localhost\r\nOrigin: http://x\r\n\r\n", "OPTIONS", "OPTIONS /doc cl=0 te=[] type= body="},
	} {
		rc.send(tc.req)
		if resp, body := rc.read(tc.method); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("%s: %d %q", tc.method, resp.StatusCode, body)
		}
		if g := got.Load(); g != tc.want {
			t.Errorf("the instance got %q, want %q", g, tc.want)
		}
	}
	// A body that comes after its head.
	rc.send("POST /late HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 6\r\n\r\nabc")
	time.Sleep(100 * time.Millisecond)
	rc.send("def")
	if resp, _ := rc.read("POST"); resp.StatusCode != 200 || got.Load() != "POST /late cl=6 te=[] type= body=abcdef" {
		t.Fatalf("a body in two parts: %d, the instance got %q", resp.StatusCode, got.Load())
	}
	if looped, handed := loopCounts(f); looped != 7 || handed != 0 {
		t.Errorf("looped %d, handed over %d: want every request in the loop", looped, handed)
	}

	// An instance that closes the connection without answering: a POST
	// is not sent again (502), a PUT is.
	drop := newRawUpstream(t, map[string]string{"/drop": "<close>"})
	f.SetRoutes([]Route{drop.route()})
	rc2 := dialRaw(t, f.srv.Listener.Addr().String())
	rc2.send("POST /drop HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 2\r\n\r\nhi")
	if resp, _ := rc2.read("POST"); resp.StatusCode != http.StatusBadGateway || drop.reqs.Load() != 1 {
		t.Errorf("a dropped POST: %d after %d tries, want 502 after 1", resp.StatusCode, drop.reqs.Load())
	}
	rc2.send("PUT /drop HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 2\r\n\r\nhi")
	if resp, _ := rc2.read("PUT"); resp.StatusCode != http.StatusBadGateway || drop.reqs.Load() != 3 {
		t.Errorf("a dropped PUT: %d after %d tries in all, want 502 after it was sent again", resp.StatusCode, drop.reqs.Load())
	}
}
