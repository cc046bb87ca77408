//go:build linux

package proxy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The clients and the instance of the HTTP/2 tests (front_h2_test.go,
// loop_h2_attack_test.go).

// h2App is an instance on 127.0.0.1, routed as app.localhost, answering
// the paths the tests ask for; any other path echoes the request.
type h2App struct {
	addr    string
	payload []byte        // /big; set before the first request
	started chan string   // /wait: a request began to wait (its query)
	ended   chan string   // /wait: a waiting request's context ended
	release chan struct{} // /wait: closed to let the waiting requests answer
	next    chan struct{} // /events: the client got the first event
	hits    atomic.Int64
	once    sync.Once
}

// h2WaitBody is the length of a /wait answer: more than a stream's
// initial window.
const h2WaitBody = 100 << 10

func newH2App(t *testing.T) *h2App {
	t.Helper()
	a := &h2App{started: make(chan string, 16), ended: make(chan string, 16), release: make(chan struct{}), next: make(chan struct{}, 1)}
	srv := httptest.NewServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	t.Cleanup(a.releaseAll) // first: Close waits for the handlers
	a.addr = srv.Listener.Addr().String()
	return a
}

func (a *h2App) releaseAll() { a.once.Do(func() { close(a.release) }) }

func (a *h2App) serve(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("User-Agent") == "pier-health-check" {
		return // the proxy's, not a test's
	}
	a.hits.Add(1)
	h := w.Header()
	switch r.URL.Path {
	case "/big":
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n > len(a.payload) {
			n = len(a.payload)
		}
		w.Write(a.payload[:n])
	case "/post":
		sum := sha256.New()
		n, err := io.Copy(sum, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.Set("Echo-Content-Length", strconv.FormatInt(r.ContentLength, 10))
		fmt.Fprintf(w, "%x %d", sum.Sum(nil), n)
	case "/events":
		a.events(w)
	case "/trailers":
		h.Set("Trailer", "X-Sum")
		io.WriteString(w, "part one;")
		w.(http.Flusher).Flush()
		io.WriteString(w, "part two")
		h.Set("X-Sum", "42")
	case "/status/204":
		w.WriteHeader(http.StatusNoContent)
	case "/status/304":
		h.Set("ETag", `"v1"`)
		w.WriteHeader(http.StatusNotModified)
	case "/wait":
		a.wait(w, r)
	default:
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Request-Id", "Cookie", "X-Seq"} {
			h.Set("Echo-"+k, strings.Join(r.Header.Values(k), "|"))
		}
		h.Set("Echo-Host", r.Host)
		pad, _ := strconv.Atoi(r.URL.Query().Get("pad"))
		fmt.Fprintf(w, "%s %s %s|%s", r.Method, r.URL.Path, r.Header.Get("X-Seq"), strings.Repeat("p", pad))
	}
}

// events sends a server-sent event, and the second only once the client
// has the first (or 5 s on, a late one).
func (a *h2App) events(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	io.WriteString(w, "data: one\n\n")
	w.(http.Flusher).Flush()
	select {
	case <-a.next:
		io.WriteString(w, "data: two\n\n")
	case <-time.After(5 * time.Second):
		io.WriteString(w, "data: late\n\n")
	}
}

// wait answers once released, and reports when its request began and
// whether its context ended first (the proxy gave up on it).
func (a *h2App) wait(w http.ResponseWriter, r *http.Request) {
	a.started <- r.URL.RawQuery
	select {
	case <-r.Context().Done():
		a.ended <- r.URL.RawQuery
		return
	case <-a.release:
	case <-time.After(10 * time.Second):
	}
	w.Write(bytes.Repeat([]byte("w"), h2WaitBody))
}

// front serves the app, and the extra routes, over HTTPS with event loops.
func (a *h2App) front(t *testing.T, cfg Config, extra ...Route) (*Front, string) {
	t.Helper()
	return h2Front(t, cfg, append([]Route{{App: "app", Hosts: []string{"app.localhost"},
		Upstreams: []Upstream{{Name: "web.1", Addr: a.addr, Slot: "blue"}}}}, extra...)...)
}

// h2Front serves routes over HTTPS with event loops, as the agent does.
func h2Front(t *testing.T, cfg Config, routes ...Route) (*Front, string) {
	t.Helper()
	cfg.Domain = "localhost"
	p := New(cfg)
	t.Cleanup(func() { p.Close() })
	p.SetRoutes(routes)
	return serveTLSLoops(t, p, LoopConfig{})
}

// h2Client is an x/net/http2 client of the front; dials counts the
// connections it opened. It queues requests past the server's stream
// limit rather than open another connection.
type h2Client struct {
	*http.Client
	tr    *http2.Transport
	addr  string
	dials atomic.Int64
}

func newH2Client(t *testing.T, addr string) *h2Client {
	t.Helper()
	c := &h2Client{addr: addr}
	c.tr = &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, StrictMaxConcurrentStreams: true,
		DialTLSContext: func(ctx context.Context, network, addr string, cfg *tls.Config) (net.Conn, error) {
			c.dials.Add(1)
			return (&tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}).DialContext(ctx, network, addr)
		}}
	c.Client = &http.Client{Transport: c.tr, Timeout: 10 * time.Second}
	t.Cleanup(c.tr.CloseIdleConnections)
	return c
}

// request is a request for path on app.localhost, with header pairs.
func (c *h2Client) request(t *testing.T, method, path string, body io.Reader, hdr ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "https://"+c.addr+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "app.localhost"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return req
}

// do sends req and returns the answer, which must come over HTTP/2, with
// its body read whole.
func (c *h2Client) do(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", req.Method, req.URL.Path, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: answered over %s, want HTTP/2", req.Method, req.URL.Path, resp.Proto)
	}
	return resp, b
}

func (c *h2Client) get(t *testing.T, path string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	return c.do(t, c.request(t, "GET", path, nil, hdr...))
}

// stillServes checks that the client's one connection still answers.
func (c *h2Client) stillServes(t *testing.T, when string) {
	t.Helper()
	if resp, b := c.get(t, "/after"); resp.StatusCode != 200 || string(b) != "GET /after |" {
		t.Errorf("%s: %d %q", when, resp.StatusCode, b)
	}
	if n := c.dials.Load(); n != 1 {
		t.Errorf("%s: the client opened %d connections, want 1", when, n)
	}
}

// h2Raw is a raw HTTP/2 client connection that records what the server
// sends, stream by stream; one goroutine uses it.
type h2Raw struct {
	*h2Attacker
	streams map[uint32]*h2Answer
	goAway  bool
	lastID  uint32 // the GOAWAY's last stream
	err     error  // why reading ended
}

// h2Answer is what the server sent on one stream.
type h2Answer struct {
	status  string
	header  http.Header
	trailer http.Header
	body    bytes.Buffer
	ended   bool          // END_STREAM came
	reset   bool          // RST_STREAM came
	code    http2.ErrCode // its error code
}

// dialH2Raw opens a raw HTTP/2 connection whose streams' initial window
// is window, and raises the connection's window to conn if that is more
// than its initial 64 KB.
func dialH2Raw(t *testing.T, addr string, window, conn uint32) *h2Raw {
	t.Helper()
	h := &h2Raw{h2Attacker: dialH2(t, addr), streams: map[uint32]*h2Answer{}}
	if err := h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: window}); err != nil {
		t.Fatal(err)
	}
	if conn > 65535 {
		if err := h.fr.WriteWindowUpdate(0, conn-65535); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// h2Fields is a header block with exactly the given name, value pairs.
func h2Fields(fields ...string) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return buf.Bytes()
}

// h2Get is the header block of a GET for path on app.localhost.
func h2Get(path string, extra ...string) []byte {
	return h2Fields(append([]string{":method", "GET", ":scheme", "https", ":authority", "app.localhost", ":path", path}, extra...)...)
}

// send opens stream id with the header block, and no body.
func (h *h2Raw) send(id uint32, block []byte) {
	h.t.Helper()
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true}); err != nil {
		h.t.Fatal(err)
	}
}

func (h *h2Raw) answer(id uint32) *h2Answer {
	a := h.streams[id]
	if a == nil {
		a = &h2Answer{header: http.Header{}, trailer: http.Header{}}
		h.streams[id] = a
	}
	return a
}

// next reads one frame and records it, acknowledging SETTINGS and PING.
func (h *h2Raw) next() (http2.Frame, error) {
	f, err := h.fr.ReadFrame()
	if err != nil {
		h.err = err
		return nil, err
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			err = h.fr.WriteSettingsAck()
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			err = h.fr.WritePing(true, f.Data)
		}
	case *http2.GoAwayFrame:
		h.goAway, h.lastID = true, f.LastStreamID
	case *http2.MetaHeadersFrame:
		a := h.answer(f.StreamID)
		dst := a.trailer
		switch st := f.PseudoValue("status"); {
		case strings.HasPrefix(st, "1"):
			dst = http.Header{} // an interim answer
		case st != "":
			a.status, dst = st, a.header
		}
		for _, hf := range f.RegularFields() {
			dst.Add(hf.Name, hf.Value)
		}
		a.ended = a.ended || f.StreamEnded()
	case *http2.DataFrame:
		a := h.answer(f.StreamID)
		a.body.Write(f.Data())
		a.ended = a.ended || f.StreamEnded()
	case *http2.RSTStreamFrame:
		a := h.answer(f.StreamID)
		a.reset, a.code = true, f.ErrCode
	}
	if err != nil {
		h.err = err
	}
	return f, err
}

// until reads frames until done holds or the connection ends, for at most
// d, and reports whether done held.
func (h *h2Raw) until(d time.Duration, done func() bool) bool {
	h.c.SetReadDeadline(time.Now().Add(d))
	defer h.c.SetReadDeadline(time.Time{})
	for !done() {
		if _, err := h.next(); err != nil {
			return done()
		}
	}
	return true
}

// settled reports whether the stream got a whole answer, or was reset.
func (a *h2Answer) settled() bool { return a.ended || a.reset }
