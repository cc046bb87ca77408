package proxy

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pierhq/pier/proxy/internal/benchcert"
)

// upstream is a real instance on 127.0.0.1 that names itself in its answers
// and echoes the forwarding headers it received.
type upstream struct {
	*httptest.Server
	name   string
	hits   atomic.Int64 // requests other than health checks
	checks atomic.Int64
	sick   atomic.Bool // health checks answer 503
}

func newUpstream(t testing.TB, name string) *upstream {
	t.Helper()
	u := &upstream{name: name}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("User-Agent") == "pier-health-check" {
		u.checks.Add(1)
		if u.sick.Load() {
			http.Error(w, "sick", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
		return
	}
	u.hits.Add(1)
	h := w.Header()
	h.Set("X-Upstream", u.name)
	for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "X-Real-Ip"} {
		h.Set("Echo-"+k, strings.Join(r.Header.Values(k), "|"))
	}
	h.Set("Echo-Host", r.Host)
	switch r.URL.Path {
	case "/fail":
		http.Error(w, "boom", http.StatusInternalServerError)
	case "/frame-deny":
		h.Set("X-Frame-Options", "DENY")
		io.WriteString(w, u.name)
	case "/body":
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%d", len(b))
	default:
		io.WriteString(w, u.name)
	}
}

func (u *upstream) addr() string { return u.Listener.Addr().String() }

func (u *upstream) up(slot string) Upstream {
	return Upstream{Addr: u.addr(), Name: u.name, Slot: slot, Release: 1}
}

// front is a proxy served on 127.0.0.1 with the request logs it produced.
type front struct {
	*Proxy
	srv  *frontServer
	mu   sync.Mutex
	logs []RequestLog
}

func newFront(t testing.TB, cfg Config) *front {
	t.Helper()
	return newFrontWith(t, cfg, true)
}

// newGoroutineFront is newFront without event loops: every connection
// gets a goroutine.
func newGoroutineFront(t testing.TB, cfg Config) *front {
	t.Helper()
	return newFrontWith(t, cfg, false)
}

func newFrontWith(t testing.TB, cfg Config, loops bool) *front {
	t.Helper()
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	f := &front{}
	cfg.OnRequest = func(l RequestLog) {
		f.mu.Lock()
		f.logs = append(f.logs, l)
		f.mu.Unlock()
	}
	cfg.Logf = t.Logf
	f.Proxy = New(cfg)
	f.srv = serveFront(t, f.Proxy, loops)
	t.Cleanup(func() {
		f.srv.Close()
		f.Proxy.Close()
	})
	return f
}

// frontServer is a Front serving p on 127.0.0.1, as pier's edge does:
// with event loops where the platform has them.
type frontServer struct {
	*Front
	URL      string
	Listener net.Listener
	client   *http.Client
	served   chan error
}

func serveFront(t testing.TB, p *Proxy, loops bool) *frontServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFront(p, l.Addr().String())
	fr.Lean = p.Lean
	if loops {
		fr.Loop = &LoopConfig{Proxy: p}
	}
	fr.ErrorLog = log.New(testWriter{t}, "", 0)
	s := &frontServer{Front: fr, URL: "http://" + l.Addr().String(), Listener: l, served: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
	go func() { s.served <- fr.Serve(l) }()
	return s
}

func (s *frontServer) Client() *http.Client { return s.client }

func (s *frontServer) Close() {
	s.client.CloseIdleConnections()
	s.Front.Close()
	<-s.served
}

// testWriter sends a logger's lines to t.Log.
type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

func (f *front) lastLog() RequestLog {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.logs) == 0 {
		return RequestLog{}
	}
	return f.logs[len(f.logs)-1]
}

// lastLogOf waits until the front's last line logs a request for path (the
// line is written once the answer is out, which the client may see first)
// and returns it.
func (f *front) lastLogOf(path string) RequestLog {
	deadline := time.Now().Add(2 * time.Second)
	for {
		if l := f.lastLog(); l.Path == path || time.Now().After(deadline) {
			return l
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// appRoute is a one-app route table entry for the upstreams.
func appRoute(app string, ups ...*upstream) Route {
	r := Route{App: app, Hosts: []string{app + ".localhost"}, Health: HealthCheck{Interval: 50 * time.Millisecond, Timeout: time.Second}}
	for _, u := range ups {
		r.Upstreams = append(r.Upstreams, u.up("blue"))
	}
	return r
}

// do sends method to path on the front with the given Host and headers and
// returns the answer with its body read.
func (f *front) do(t testing.TB, method, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return send(t, f.srv.Client(), req)
}

func send(t testing.TB, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", req.URL, err)
	}
	return resp, string(b)
}

// eventually polls cond until it holds or d passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// logOf waits for the router log line of the answer resp: the line is
// handed over just after the answer is written.
func (f *front) logOf(t testing.TB, resp *http.Response) RequestLog {
	t.Helper()
	id := resp.Header.Get("X-Request-ID")
	var found RequestLog
	eventually(t, 2*time.Second, "a router log line for request "+id, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, l := range f.logs {
			if l.RequestID == id {
				found = l
				return true
			}
		}
		return false
	})
	return found
}

// serveTLSFront serves p with a Front over TLS (a fresh self-signed
// certificate) on 127.0.0.1 until the test ends; setup, unless nil,
// configures the Front first.
func serveTLSFront(t testing.TB, p *Proxy, setup func(*Front)) (*Front, string) {
	t.Helper()
	cfg, err := benchcert.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFront(p, l.Addr().String())
	fr.TLSConfig = cfg
	fr.ErrorLog = log.New(io.Discard, "", 0)
	if setup != nil {
		setup(fr)
	}
	served := make(chan error, 1)
	go func() { served <- fr.ServeTLS(l) }()
	t.Cleanup(func() { fr.Close(); <-served })
	return fr, l.Addr().String()
}

// serveTLSLoops is serveTLSFront with the HTTP/1.1 connections in event
// loops after their handshake, as the agent serves HTTPS; lc may shorten
// the loops' limits.
func serveTLSLoops(t testing.TB, p *Proxy, lc LoopConfig) (*Front, string) {
	t.Helper()
	return serveTLSFront(t, p, func(fr *Front) { lc.Proxy = p; fr.Loop = &lc })
}

// bigUpstream is an instance answering /big with payload and any other
// path with the path; it is routed as app.localhost by the proxy it returns.
func bigUpstream(t *testing.T, payload []byte) *Proxy {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write(payload)
			return
		}
		io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(up.Close)
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"},
		Upstreams: []Upstream{{Name: "web.1", Addr: up.Listener.Addr().String(), Slot: "blue"}}}})
	return p
}

// rawUpstream is an instance that answers each request with the bytes its
// path names, written as they are: answers net/http would not write.
type rawUpstream struct {
	l       net.Listener
	answers map[string]string
	reqs    atomic.Int64
}

func newRawUpstream(t *testing.T, answers map[string]string) *rawUpstream {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{l: l, answers: answers}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go u.serve(c)
		}
	}()
	return u
}

func (u *rawUpstream) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		u.reqs.Add(1)
		answer, ok := u.answers[req.URL.Path]
		if !ok {
			answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
		}
		for part := range strings.SplitSeq(answer, "<pause>") {
			if part == "<close>" {
				return
			}
			if _, err := io.WriteString(c, part); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		if strings.HasPrefix(answer, "HTTP/1.0") || strings.Contains(answer, "Connection: close") {
			return
		}
	}
}

func (u *rawUpstream) route() Route {
	return Route{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: u.l.Addr().String(), Name: "web.1"}},
		Headers: map[string]string{"X-Frame-Options": "DENY", "Referrer-Policy": ""}}
}
