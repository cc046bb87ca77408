package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawConn is a client connection that writes requests by hand and reads
// answers with net/http's parser.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one answer to a request with method; its body is read whole.
func (rc *rawConn) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading the answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("reading the body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection.
func (rc *rawConn) closed() bool {
	rc.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := rc.br.ReadByte()
	return errors.Is(err, io.EOF)
}

func leanCounts(f *front) (uint64, uint64) { return f.srv.Counts() }

func TestFrontKeepAliveAndPipelinedRequestsTakeTheLeanPath(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newGoroutineFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u)})
	rc := dialRaw(t, f.srv.Listener.Addr().String())
	rc.send("GET /a HTTP/1.1\r\nHost: app.localhost\r\nX-Kept: 1\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || body != "web.1" || resp.Header.Get("Echo-Host") != "app.localhost" {
		t.Fatalf("first answer %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("Date") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.ContentLength != 5 {
		t.Errorf("first answer's head: %v (length %d)", resp.Header, resp.ContentLength)
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
	if lean, handed := leanCounts(f); lean != 3 || handed != 0 {
		t.Fatalf("lean %d, handed over %d: want 3 lean requests on one connection", lean, handed)
	}
	rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\nConnection: close\r\n\r\n")
	resp, _ = rc.read("GET")
	if !resp.Close || !rc.closed() {
		t.Fatal("Connection: close was not honoured")
	}
}

func TestFrontFramesAnswersAsNetHTTPDoes(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", "42")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/notmodified":
			w.WriteHeader(http.StatusNotModified)
		case "/html":
			w.Header()["Content-Type"] = nil // no Content-Type, and none sniffed by the upstream
			io.WriteString(w, "<!doctype html><p>hi")
		}
	}))
	t.Cleanup(up.Close)
	f := newGoroutineFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	rc := dialRaw(t, f.srv.Listener.Addr().String())

	rc.send("GET /chunked HTTP/1.1\r\nHost: app.localhost\r\nTE: trailers\r\n\r\n")
	resp, body := rc.read("GET")
	if body != "part0;part1;part2;" || len(resp.TransferEncoding) != 1 || resp.Trailer.Get("X-Sum") != "42" {
		t.Fatalf("chunked: %q, encoding %v, trailers %v", body, resp.TransferEncoding, resp.Trailer)
	}
	for _, path := range []string{"/empty", "/notmodified"} {
		rc.send("GET " + path + " HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
		resp, body = rc.read("GET")
		if body != "" || resp.ContentLength > 0 || len(resp.TransferEncoding) > 0 {
			t.Fatalf("%s: %d %q, length %d, encoding %v", path, resp.StatusCode, body, resp.ContentLength, resp.TransferEncoding)
		}
	}
	rc.send("GET /html HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	resp, body = rc.read("GET")
	if body != "<!doctype html><p>hi" || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("sniffed: %q with %q", body, resp.Header.Get("Content-Type"))
	}
	// The proxy's own pages have no Content-Length of their own: a short
	// one gets one, as from net/http.
	rc.send("GET / HTTP/1.1\r\nHost: nobody.localhost\r\n\r\n")
	resp, body = rc.read("GET")
	if resp.StatusCode != 404 || resp.ContentLength != int64(len(body)) || !strings.Contains(body, "No app is at nobody.localhost") {
		t.Fatalf("404 page: %d, length %d, %q", resp.StatusCode, resp.ContentLength, body)
	}
	if lean, handed := leanCounts(f); lean != 5 || handed != 0 {
		t.Fatalf("lean %d, handed over %d", lean, handed)
	}
}

func TestFrontHandsOverWhatItDoesNotServe(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newGoroutineFront(t, Config{ControlHost: "pier.localhost", Control: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "control")
	})})
	f.SetRoutes([]Route{appRoute("app", u)})
	addr := f.srv.Listener.Addr().String()

	// A body too large for the lean path: the same connection goes on
	// under net/http, requests and all.
	rc := dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	rc.read("GET")
	rc.send("POST /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 5000\r\n\r\n" + strings.Repeat("x", 5000))
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != "5000" {
		t.Fatalf("POST on a handed-over connection: %d %q", resp.StatusCode, body)
	}
	rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "web.1" {
		t.Fatalf("GET after the hand-over: %d %q", resp.StatusCode, body)
	}
	if lean, handed := leanCounts(f); lean != 1 || handed != 1 {
		t.Fatalf("lean %d, handed over %d: want 1 and 1", lean, handed)
	}

	cases := []struct {
		name, req string
		status    int
		body      string
	}{
		{"control host", "GET / HTTP/1.1\r\nHost: pier.localhost\r\n\r\n", 200, "control"},
		{"HTTP/1.0", "GET / HTTP/1.0\r\nHost: app.localhost\r\n\r\n", 200, "web.1"},
		{"bare line feeds", "GET / HTTP/1.1\nHost: app.localhost\n\n", 200, "web.1"},
		{"chunked body", "POST /body HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200, "3"},
		{"100-continue", "POST /body HTTP/1.1\r\nHost: app.localhost\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc", 200, "3"},
		{"signed Content-Length", "POST /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: +3\r\n\r\nabc", 400, ""},
		{"two Content-Lengths", "POST /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400, ""},
		{"no Host", "GET / HTTP/1.1\r\nX-A: b\r\n\r\n", 400, ""},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: app.localhost\r\nHost: other.localhost\r\n\r\n", 400, ""},
		{"space before the colon", "GET / HTTP/1.1\r\nHost : app.localhost\r\n\r\n", 400, ""},
		{"folded header", "GET / HTTP/1.1\r\nHost: app.localhost\r\nX-A: b\r\n c\r\n\r\n", 200, "web.1"},
		{"control byte in a value", "GET / HTTP/1.1\r\nHost: app.localhost\r\nX-A: b\x01c\r\n\r\n", 400, ""},
		{"bad Content-Length", "GET / HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: x\r\n\r\n", 400, ""},
		{"head larger than 64 KB", "GET / HTTP/1.1\r\nHost: app.localhost\r\nX-Big: " + strings.Repeat("a", 70<<10) + "\r\n\r\n", 431, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, addr)
			rc.send(tc.req)
			resp, err := http.ReadResponse(rc.br, nil)
			if err == nil && resp.StatusCode == http.StatusContinue {
				resp, err = http.ReadResponse(rc.br, nil) // the final answer: one 100 only
			}
			if err != nil {
				t.Fatalf("reading the answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body) // net/http may reset a connection it refused
			body := string(b)
			if resp.StatusCode != tc.status || tc.body != "" && body != tc.body {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, body, tc.status, tc.body)
			}
		})
	}
}

func TestFrontOverTLS(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{appRoute("app", u)})
	fr, addr := serveTLSFront(t, p, nil)

	client := func(h2 bool) *http.Client {
		tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
		if !h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client, method, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+"/body", strings.NewReader(body))
		if body == "" {
			req.Body = http.NoBody
		}
		req.Host = "app.localhost"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	h1, h2 := client(false), client(true)
	for _, tc := range []struct {
		name   string
		c      *http.Client
		method string
		body   string
		proto  int
	}{
		{"HTTP/1.1 lean", h1, "GET", "", 1},
		{"HTTP/1.1 with a small body, lean", h1, "POST", "hello", 1},
		{"HTTP/1.1 with a body too large to be lean, handed over", h1, "POST", strings.Repeat("x", 5000), 1},
		{"HTTP/2", h2, "GET", "", 2},
	} {
		resp := get(tc.c, tc.method, tc.body)
		if resp.StatusCode != 200 || resp.ProtoMajor != tc.proto {
			t.Errorf("%s: %s %d", tc.name, resp.Proto, resp.StatusCode)
		}
		if resp.Header.Get("Strict-Transport-Security") == "" || resp.Header.Get("Echo-X-Forwarded-Proto") != "https" {
			t.Errorf("%s: the request was not seen as HTTPS: %v", tc.name, resp.Header)
		}
	}
	if lean, handed := fr.Counts(); lean != 2 || handed != 2 {
		t.Errorf("lean %d, handed over %d: want 2 and 2", lean, handed)
	}
	// Plain HTTP to the TLS port gets net/http's answer.
	rc := dialRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, _ := rc.read("GET"); resp.StatusCode != 400 {
		t.Errorf("plain HTTP on the TLS port: %d", resp.StatusCode)
	}
}

// TestFrontShutdownFinishesRequestsAndClosesIdleConnections, on
// goroutines and in the event loops where there are some.
func TestFrontShutdownFinishesRequestsAndClosesIdleConnections(t *testing.T) {
	for _, loops := range []bool{false, true} {
		t.Run(fmt.Sprintf("loops=%v", loops), func(t *testing.T) { testFrontShutdown(t, loops) })
	}
}

func testFrontShutdown(t *testing.T, loops bool) {
	started := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, "done")
	}))
	t.Cleanup(up.Close)
	f := newFrontWith(t, Config{}, loops)
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	addr := f.srv.Listener.Addr().String()
	idle := dialRaw(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	idle.read("GET")
	busy := dialRaw(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-f.srv.served; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	f.srv.served <- http.ErrServerClosed // for the cleanup
	resp, body := busy.read("GET")
	if resp.StatusCode != 200 || body != "done" || !resp.Close {
		t.Fatalf("the request in flight: %d %q, close %v", resp.StatusCode, body, resp.Close)
	}
	if !idle.closed() {
		t.Error("the idle connection stayed open")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("still accepting after Shutdown")
	}
	if !loops || runtime.GOOS != "linux" {
		return
	}
	if !busy.closed() {
		t.Error("the busy connection stayed open")
	}
	if looped, _ := f.srv.LoopCounts(); looped != 2 {
		t.Errorf("looped %d requests, want 2", looped)
	}
}

func TestParseTargetAgreesWithNetURL(t *testing.T) {
	for _, target := range []string{"/", "/a/b?x=1&y=2", "/a?", "//x/y", "/a:b", "/caf%C3%A9?q=%20", "/a%2Fb", "/p#frag", "/%zz"} {
		got, ok := parseTarget(target)
		want, err := url.ParseRequestURI(target)
		if ok != (err == nil) || ok && *got != *want {
			t.Errorf("%q: got %+v %v, want %+v %v", target, got, ok, want, err)
		}
	}
}

func TestFrontCutsTheInstanceWhenTheClientOfASlowRequestLeaves(t *testing.T) {
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
			time.Sleep(1500 * time.Millisecond)
			io.WriteString(w, "slow answer")
		default:
			io.WriteString(w, "quick")
		}
	}))
	t.Cleanup(up.Close)
	f := newGoroutineFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	addr := f.srv.Listener.Addr().String()

	// A slow answer whose client stays, with the next request pipelined:
	// the watch does not disturb either.
	rc := dialRaw(t, addr)
	rc.send("GET /slow HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	time.Sleep(1200 * time.Millisecond) // the watch has begun
	rc.send("GET /next HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "slow answer" {
		t.Fatalf("slow request: %d %q", resp.StatusCode, body)
	}
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "quick" {
		t.Fatalf("pipelined request after it: %d %q", resp.StatusCode, body)
	}
	if lean, handed := leanCounts(f); lean != 2 || handed != 0 {
		t.Fatalf("lean %d, handed over %d", lean, handed)
	}

	// A client that leaves while the app thinks.
	rc2 := dialRaw(t, addr)
	rc2.send("GET /think HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	rc2.c.Close()
	select {
	case d := <-gone:
		if d > 3*time.Second {
			t.Errorf("the app's request was cancelled %v after it began", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the app's request was not cancelled after its client left")
	}
	eventually(t, 2*time.Second, "a 499 log line", func() bool {
		l := f.lastLog()
		return l.Path == "/think" && l.Status == statusClientClosed
	})
}

func TestFrontSendsSmallBodiesOnTheLeanPath(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newGoroutineFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u)})
	rc := dialRaw(t, f.srv.Listener.Addr().String())
	// A JSON body in the same write as its head, then one that arrives
	// after a pause, then an empty POST: all three on the lean path, on one
	// connection.
	json := `{"prompt":"hello"}`
	rc.send("POST /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(json)) + "\r\n\r\n" + json)
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != fmt.Sprint(len(json)) {
		t.Fatalf("small body: %d %q", resp.StatusCode, body)
	}
	rc.send("PUT /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 10\r\n\r\nhello")
	time.Sleep(100 * time.Millisecond)
	rc.send("world")
	if resp, body := rc.read("PUT"); resp.StatusCode != 200 || body != "10" {
		t.Fatalf("body in two parts: %d %q", resp.StatusCode, body)
	}
	rc.send("POST /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 0\r\n\r\n")
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != "0" {
		t.Fatalf("empty POST: %d %q", resp.StatusCode, body)
	}
	if lean, handed := leanCounts(f); lean != 3 || handed != 0 {
		t.Fatalf("lean %d, handed over %d: want 3 and 0", lean, handed)
	}
}

func TestSmallBodyIsSentAgainWhenAnInstanceCannotBeReached(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newGoroutineFront(t, Config{})
	// The first instance in the rotation is down; PUT is idempotent and
	// its body is in memory, so it goes to the other one.
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{
		{Addr: closedAddr(t), Name: "web.1"}, {Addr: u.addr(), Name: "web.2"},
	}}})
	for i := 0; i < 4; i++ {
		rc := dialRaw(t, f.srv.Listener.Addr().String())
		rc.send("PUT /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 3\r\n\r\nabc")
		if resp, body := rc.read("PUT"); resp.StatusCode != 200 || body != "3" {
			t.Fatalf("PUT %d: %d %q", i, resp.StatusCode, body)
		}
	}
}

// An idle HTTP/2 connection gets a GOAWAY at Shutdown and ends, so the
// front's Shutdown returns at once; a request under way finishes first.
func TestFrontShutdownEndsHTTP2Connections(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{appRoute("app", u)})
	fr, addr := serveTLSFront(t, p, nil)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
	req.Host = "app.localhost"
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s, want HTTP/2", resp.Proto)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := fr.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown with an idle HTTP/2 connection: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Shutdown took %s with an idle HTTP/2 connection", took)
	}
}
