//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// HTTP/2 through the HTTPS front, served as the agent serves it (event
// loops on): what an HTTP/2 client sees, whichever server speaks HTTP/2
// after the TLS handshake. The clients are x/net/http2's Transport, or a
// raw Framer (abuse_test.go's dialH2) for what a transport will not send or
// does not show.

// TestH2FrontManyStreamsOnOneConnection: 200 requests, 50 at a time, on
// one HTTP/2 connection. Gone wrong, a user would see one page's answer
// in another's place, truncated bodies, or stalled requests when a page
// loads its assets at once.
func TestH2FrontManyStreamsOnOneConnection(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)

	app.payload = make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{2}).Read(app.payload)
	sem := make(chan struct{}, 50)
	errs := make(chan error, 200)
	var wg sync.WaitGroup
	for i := range 200 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fetchNth(c, app.payload, i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := c.dials.Load(); n != 1 {
		t.Errorf("the client opened %d connections, want 1", n)
	}
	if n := app.hits.Load(); n != 200 {
		t.Errorf("the app got %d requests, want 200", n)
	}
}

// fetchNth asks c for the i-th request of many: every 25th the app's 1 MiB
// payload, the others an echo of the path and of an X-Seq header, padded to
// a length of their own; and checks the answer is that request's.
func fetchNth(c *h2Client, payload []byte, i int) error {
	path, pad := fmt.Sprintf("/r/%d", i), i*97%20000
	url, want := fmt.Sprintf("%s?pad=%d", path, pad), fmt.Sprintf("GET %s %d|%s", path, i, strings.Repeat("p", pad))
	if i%25 == 24 {
		url, want = "/big", string(payload)
	}
	req, err := http.NewRequest("GET", "https://"+c.addr+url, nil)
	if err != nil {
		return err
	}
	req.Host = "app.localhost"
	req.Header.Set("X-Seq", strconv.Itoa(i))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return fmt.Errorf("%s: reading: %v", url, err)
	case resp.StatusCode != 200 || resp.ProtoMajor != 2:
		return fmt.Errorf("%s: %d over %s", url, resp.StatusCode, resp.Proto)
	case string(b) != want || url != "/big" && resp.Header.Get("Echo-X-Seq") != strconv.Itoa(i):
		return fmt.Errorf("%s: answered %.40q (%d bytes, X-Seq %q), want %.40q (%d bytes)",
			url, b, len(b), resp.Header.Get("Echo-X-Seq"), want, len(want))
	}
	return nil
}

// TestH2FrontLargeAnswers: an 8 MiB answer arrives whole; and to a client
// with a 1 KB stream window that grants more slowly, or with two streams
// sharing a connection window, the server never sends more than the
// windows allow and still delivers every byte. Gone wrong, a user would
// see downloads cut or corrupted, or a slow client (a phone) overrun and
// its connection reset.
func TestH2FrontLargeAnswers(t *testing.T) {
	app := newH2App(t)
	app.payload = make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{1}).Read(app.payload)
	_, addr := app.front(t, Config{})

	c := newH2Client(t, addr)
	resp, b := c.get(t, "/big")
	if resp.StatusCode != 200 || len(b) != len(app.payload) || sha256.Sum256(b) != sha256.Sum256(app.payload) {
		t.Fatalf("8 MiB answer: %d, %d bytes, not the payload", resp.StatusCode, len(b))
	}

	// A slow client with 1 KB stream windows: it raises them to 8 KB by
	// SETTINGS once the first is spent, then grants 4 KB at a time.
	const n = 256 << 10
	w := newH2Windows(dialH2Raw(t, addr, 1024, 0), 1024)
	w.h.send(1, h2Get(fmt.Sprintf("/big?n=%d", n)))
	raised := false
	w.readUntil(t, func(id uint32) {
		switch {
		case !raised && w.stream[1] == 0:
			w.setInitial(t, 8192)
			raised = true
		case raised && w.stream[1] < 1024:
			time.Sleep(2 * time.Millisecond) // a slow reader
			w.grant(t, 1, 4096)
			w.grant(t, 0, 4096)
		}
	}, 1)
	checkPayload(t, "through 1 KB windows", w.h.answer(1), app.payload[:n])

	// Two streams with large windows, sharing a connection window of
	// 64 KB that the client grants 16 KB at a time.
	w = newH2Windows(dialH2Raw(t, addr, 1<<20, 0), 1<<20)
	w.h.send(1, h2Get(fmt.Sprintf("/big?n=%d", n)))
	w.h.send(3, h2Get(fmt.Sprintf("/big?n=%d", n/2)))
	w.readUntil(t, func(uint32) {
		if w.conn < 16<<10 {
			time.Sleep(2 * time.Millisecond)
			w.grant(t, 0, 16<<10)
		}
	}, 1, 3)
	checkPayload(t, "two streams through a 64 KB connection window, stream 1", w.h.answer(1), app.payload[:n])
	checkPayload(t, "two streams through a 64 KB connection window, stream 3", w.h.answer(3), app.payload[:n/2])
}

func checkPayload(t *testing.T, what string, a *h2Answer, want []byte) {
	t.Helper()
	if a.status != "200" || a.reset || a.body.Len() != len(want) || sha256.Sum256(a.body.Bytes()) != sha256.Sum256(want) {
		t.Errorf("%s: status %q, reset %v (%v), %d bytes of %d, or not the payload", what, a.status, a.reset, a.code, a.body.Len(), len(want))
	}
}

// h2Windows is a raw client's account of the server's send windows, as
// RFC 9113 6.9 keeps them: every DATA frame must fit both its stream's
// window and the connection's.
type h2Windows struct {
	h       *h2Raw
	conn    int64
	initial int64
	stream  map[uint32]int64
}

func newH2Windows(h *h2Raw, initial int64) *h2Windows {
	return &h2Windows{h: h, conn: 65535, initial: initial, stream: map[uint32]int64{}}
}

// readUntil reads frames until the streams are settled, checking each DATA
// frame against the windows; after each, it calls then with its stream.
func (w *h2Windows) readUntil(t *testing.T, then func(id uint32), ids ...uint32) {
	t.Helper()
	for _, id := range ids {
		w.stream[id] = w.initial
	}
	w.h.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer w.h.c.SetReadDeadline(time.Time{})
	var got int64
	for !w.settled(ids) {
		f, err := w.h.next()
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		d, ok := f.(*http2.DataFrame)
		if !ok {
			continue
		}
		size := int64(d.Header().Length)
		if size > w.stream[d.StreamID] || size > w.conn {
			t.Fatalf("after %d bytes: a DATA frame of %d bytes on stream %d, with its window at %d and the connection's at %d",
				got, size, d.StreamID, w.stream[d.StreamID], w.conn)
		}
		w.stream[d.StreamID] -= size
		w.conn -= size
		got += size
		if !w.settled(ids) {
			then(d.StreamID)
		}
	}
}

func (w *h2Windows) settled(ids []uint32) bool {
	for _, id := range ids {
		if !w.h.answer(id).settled() {
			return false
		}
	}
	return true
}

// grant sends a WINDOW_UPDATE for stream id (0: the connection).
func (w *h2Windows) grant(t *testing.T, id uint32, n uint32) {
	t.Helper()
	if err := w.h.fr.WriteWindowUpdate(id, n); err != nil {
		t.Fatal(err)
	}
	if id == 0 {
		w.conn += int64(n)
	} else {
		w.stream[id] += int64(n)
	}
}

// setInitial changes SETTINGS_INITIAL_WINDOW_SIZE: every stream's window
// moves by the difference (RFC 9113 6.9.2), the connection's does not.
func (w *h2Windows) setInitial(t *testing.T, n uint32) {
	t.Helper()
	if err := w.h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: n}); err != nil {
		t.Fatal(err)
	}
	for id := range w.stream {
		w.stream[id] += int64(n) - w.initial
	}
	w.initial = int64(n)
}

// lengthless hides a reader's length, so that the client sends no
// Content-Length.
type lengthless struct{ io.Reader }

// TestH2FrontRequestBodies: POSTs of 0 bytes to 5 MiB, with and without a
// Content-Length, reach the app whole. Gone wrong, a user would see
// uploads truncated or hanging, or an app refusing a length it was lied to
// about.
func TestH2FrontRequestBodies(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	for _, size := range []int{0, 10, 100_000, 5 << 20} {
		body := make([]byte, size)
		rand.NewChaCha8([32]byte{byte(size)}).Read(body)
		want := fmt.Sprintf("%x %d", sha256.Sum256(body), size)
		for _, withLength := range []bool{true, false} {
			var r io.Reader = bytes.NewReader(body)
			if !withLength {
				r = lengthless{r}
			}
			resp, b := c.do(t, c.request(t, "POST", "/post", r))
			seen := resp.Header.Get("Echo-Content-Length")
			if resp.StatusCode != 200 || string(b) != want {
				t.Errorf("%d bytes (with length %v): %d %q, want %q", size, withLength, resp.StatusCode, b, want)
			}
			if withLength && seen != strconv.Itoa(size) || !withLength && seen != "-1" && seen != strconv.Itoa(size) {
				t.Errorf("%d bytes (with length %v): the app saw Content-Length %s", size, withLength, seen)
			}
		}
	}
}

// TestH2FrontBodyLimit: a body over the proxy's limit gets 413 and the
// proxy's page over HTTP/2, whether its length is declared or not, and the
// connection goes on. Gone wrong, an app would get uploads past the limit
// its operator set, or a user a reset instead of the reason.
func TestH2FrontBodyLimit(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{MaxBodyBytes: 1024})
	c := newH2Client(t, addr)
	at := bytes.Repeat([]byte("x"), 1024)
	if resp, b := c.do(t, c.request(t, "POST", "/post", bytes.NewReader(at))); resp.StatusCode != 200 || !strings.HasSuffix(string(b), " 1024") {
		t.Errorf("a body at the limit: %d %q", resp.StatusCode, b)
	}
	hits := app.hits.Load()
	resp, b := c.do(t, c.request(t, "POST", "/post", bytes.NewReader(append(at, 'x'))))
	if resp.StatusCode != 413 || !strings.Contains(string(b), "Request body too large for app") || app.hits.Load() != hits {
		t.Errorf("a declared body over the limit: %d %q, the app asked %d times", resp.StatusCode, b, app.hits.Load()-hits)
	}
	checkPage(t, resp, b)
	resp, b = c.do(t, c.request(t, "POST", "/post", lengthless{bytes.NewReader(bytes.Repeat(at, 4))}))
	if resp.StatusCode != 413 || !strings.Contains(string(b), "Request body too large for app") {
		t.Errorf("an undeclared body over the limit: %d %q", resp.StatusCode, b)
	}
	c.stillServes(t, "after the 413s")
}

// TestH2FrontStreamsAnswers: a server-sent events answer reaches the
// client event by event: the app sends its second event only once the
// client has the first. Gone wrong, a user's live page would stay blank
// until the stream ends.
func TestH2FrontStreamsAnswers(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	start := time.Now()
	resp, err := c.Do(c.request(t, "GET", "/events", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var first string
	for !strings.HasSuffix(first, "\n\n") {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the first event: %q, %v", first+line, err)
		}
		first += line
	}
	took := time.Since(start)
	app.next <- struct{}{}
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if first != "data: one\n\n" || string(rest) != "data: two\n\n" || took > 3*time.Second {
		t.Fatalf("events %q then %q, the first after %v: want the first before the app went on", first, rest, took)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
}

// TestH2FrontPassesTrailers: an answer's trailers (a checksum sent after
// the body) reach the HTTP/2 client as trailers. Gone wrong, a user's
// client (gRPC-web, a checksumming download) would miss them.
func TestH2FrontPassesTrailers(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	resp, b := c.get(t, "/trailers")
	if resp.StatusCode != 200 || string(b) != "part one;part two" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	if got := resp.Trailer.Get("X-Sum"); got != "42" {
		t.Errorf("trailer X-Sum %q, want 42 (trailers %v)", got, resp.Trailer)
	}
}

// TestH2FrontAnswersWithoutBody: HEAD, 204 and 304 answers come with the
// right status and no body, and end. Gone wrong, a user's browser would
// hang on a cache revalidation or a form post's 204.
func TestH2FrontAnswersWithoutBody(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"HEAD", "/head?pad=5000", 200}, {"GET", "/status/204", 204}, {"GET", "/status/304", 304}} {
		resp, b := c.do(t, c.request(t, tc.method, tc.path, nil))
		if resp.StatusCode != tc.status || len(b) != 0 {
			t.Errorf("%s %s: %d with %d bytes of body, want %d and none", tc.method, tc.path, resp.StatusCode, len(b), tc.status)
		}
	}
	c.stillServes(t, "after them")
}

// TestH2FrontAnswerHeaders: what a user sees of an answer's head over
// HTTP/2: the proxy's security headers, the route's own, none of the
// instance's hop-by-hop fields, each Set-Cookie kept apart, and a
// Content-Type sniffed when the instance sent none. Gone wrong, a user's
// browser would lose cookies or protections, or show a page as text.
func TestH2FrontAnswerHeaders(t *testing.T) {
	html := "<html><body>hi</body></html>"
	u := newRawUpstream(t, map[string]string{
		"/hop": "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nKeep-Alive: timeout=5\r\nX-Hop: secret\r\n" +
			"Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"/sniff": fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(html), html),
	})
	_, addr := h2Front(t, Config{}, u.route())

	// A raw client: x/net/http2's Transport drops connection-specific
	// fields from what it shows.
	h := dialH2Raw(t, addr, 1<<20, 1<<20)
	h.send(1, h2Get("/hop"))
	if !h.until(5*time.Second, h.answer(1).settled) {
		t.Fatalf("no answer: %v", h.err)
	}
	a := h.answer(1)
	if a.status != "200" || a.reset || a.body.String() != "hello" {
		t.Fatalf("%s %q, reset %v (%v)", a.status, a.body.String(), a.reset, a.code)
	}
	for k, want := range map[string]string{
		"X-Content-Type-Options":    "nosniff",
		"Strict-Transport-Security": "max-age=31536000",
		"X-Frame-Options":           "DENY", // the route's
		"Content-Type":              "text/plain",
	} {
		if got := a.header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if a.header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	for _, k := range []string{"Connection", "Keep-Alive", "Transfer-Encoding", "X-Hop", "Referrer-Policy"} {
		if v, ok := a.header[k]; ok {
			t.Errorf("%s reached the client: %q", k, v)
		}
	}
	if got := a.header.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1; Path=/" || got[1] != "b=2" {
		t.Errorf("Set-Cookie %q, want two fields", got)
	}

	c := newH2Client(t, addr)
	resp, b := c.get(t, "/sniff")
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || string(b) != html || !strings.HasPrefix(ct, "text/html") {
		t.Errorf("an answer without Content-Type: %d %q, Content-Type %q, want text/html", resp.StatusCode, b, ct)
	}
}

// TestH2FrontRequestHeaders: what the app sees of an HTTP/2 request: the
// :authority as Host, X-Forwarded-Proto https whatever the client claims,
// the client's address, and the cookie crumbs joined into one Cookie; and
// the client gets the proxy's headers. Gone wrong, an app would build
// http:// links, see no sessions, or trust a spoofed scheme.
func TestH2FrontRequestHeaders(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	resp, _ := c.get(t, "/hdr", "X-Forwarded-Proto", "http")
	for k, want := range map[string]string{
		"Echo-Host":                 "app.localhost",
		"Echo-X-Forwarded-Proto":    "https",
		"Echo-X-Forwarded-For":      "127.0.0.1",
		"X-Content-Type-Options":    "nosniff",
		"X-Frame-Options":           "SAMEORIGIN",
		"Referrer-Policy":           "strict-origin-when-cross-origin",
		"Strict-Transport-Security": "max-age=31536000",
		"Echo-X-Request-Id":         resp.Header.Get("X-Request-Id"),
	} {
		if got := resp.Header.Get(k); got != want || want == "" {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}

	h := dialH2Raw(t, addr, 1<<20, 1<<20)
	h.send(1, h2Get("/cookies", "cookie", "a=1", "cookie", "b=2", "cookie", "c=3"))
	if !h.until(5*time.Second, h.answer(1).settled) {
		t.Fatalf("no answer: %v", h.err)
	}
	if a := h.answer(1); a.status != "200" || a.header.Get("Echo-Cookie") != "a=1; b=2; c=3" {
		t.Errorf("cookie crumbs: %s, the app saw Cookie %q, want one field %q", a.status, a.header.Get("Echo-Cookie"), "a=1; b=2; c=3")
	}
}

// TestH2FrontCancelledStreamEndsUpstreamRequest: a client that gives up
// on a request (RST_STREAM) ends the app's request, and its connection
// goes on serving. Gone wrong, an app would compute answers nobody reads,
// or a user navigating away would lose the whole connection.
func TestH2FrontCancelledStreamEndsUpstreamRequest(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	c.get(t, "/warm")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := c.request(t, "GET", "/wait?cancel", nil).WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-app.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the app")
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a cancelled request was answered")
	}
	select {
	case <-app.ended:
	case <-time.After(3 * time.Second):
		t.Fatal("3 s after the client cancelled, the app's request goes on")
	}
	c.stillServes(t, "after the cancel")
}

// TestH2FrontGatewayErrors: an instance that is down gives 502 and one
// that does not answer gives 504 after the ResponseHeaderTimeout, each
// with the proxy's page. Gone wrong, a user would wait forever or see a
// blank error.
func TestH2FrontGatewayErrors(t *testing.T) {
	app := newH2App(t)
	down := Route{App: "down", Hosts: []string{"down.localhost"}, Upstreams: []Upstream{{Addr: closedAddr(t), Name: "web.1", Slot: "blue"}}}
	_, addr := app.front(t, Config{ResponseHeaderTimeout: 300 * time.Millisecond}, down)
	c := newH2Client(t, addr)

	req := c.request(t, "GET", "/", nil)
	req.Host = "down.localhost"
	resp, b := c.do(t, req)
	if resp.StatusCode != 502 || !strings.Contains(string(b), "down could not be reached") {
		t.Errorf("an instance that is down: %d %q", resp.StatusCode, b)
	}
	checkPage(t, resp, b)

	start := time.Now()
	resp, b = c.get(t, "/wait?late")
	took := time.Since(start)
	if resp.StatusCode != 504 || !strings.Contains(string(b), "app did not answer in time") {
		t.Errorf("an instance that does not answer: %d %q", resp.StatusCode, b)
	}
	if took < 250*time.Millisecond || took > 3*time.Second {
		t.Errorf("504 after %v, want about 300 ms", took)
	}
	checkPage(t, resp, b)
	select {
	case <-app.ended:
	case <-time.After(3 * time.Second):
		t.Error("the instance's request went on after the 504")
	}
}

// checkPage checks that an answer is one of the proxy's pages.
func checkPage(t *testing.T, resp *http.Response, b []byte) {
	t.Helper()
	id := resp.Header.Get("X-Request-Id")
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" || id == "" || !bytes.Contains(b, []byte(id)) {
		t.Errorf("not the proxy's page: Content-Type %q, request %q, %q", ct, id, b)
	}
}

// TestH2FrontRouteAnswers: the answers a route's settings make the proxy
// give itself reach HTTP/2 clients: 429 with Retry-After past a rate
// limit, 503 with the maintenance page. Gone wrong, a user of a browser
// speaking HTTP/2 would get through a limit or a maintenance window that
// HTTP/1.1 users do not.
func TestH2FrontRouteAnswers(t *testing.T) {
	app := newH2App(t)
	limited := Route{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: app.addr, Slot: "blue"}},
		RateLimit: RateLimit{RPS: 0.5, Burst: 2}}
	closed := Route{App: "closed", Hosts: []string{"closed.localhost"}, Upstreams: limited.Upstreams, Maintenance: true}
	_, addr := h2Front(t, Config{}, limited, closed)
	c := newH2Client(t, addr)
	for i := range 2 {
		if resp, _ := c.get(t, "/in-burst"); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp, b := c.get(t, "/past-burst")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || !strings.Contains(string(b), "Too many requests to app") {
		t.Errorf("past the burst: %d, Retry-After %q, %q", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	checkPage(t, resp, b)

	req := c.request(t, "GET", "/", nil)
	req.Host = "closed.localhost"
	resp, b = c.do(t, req)
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "60" || !strings.Contains(string(b), "closed is down for maintenance") {
		t.Errorf("an app in maintenance: %d, Retry-After %q, %q", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	checkPage(t, resp, b)
	if n := app.hits.Load(); n != 2 {
		t.Errorf("the app got %d requests, want 2", n)
	}
}

// TestH2FrontGracefulShutdown: with a slow request in flight over HTTP/2,
// Shutdown lets it finish, refuses new streams on that connection with a
// GOAWAY, and returns. Gone wrong, a deploy or an agent restart would cut
// users' downloads, or never end.
func TestH2FrontGracefulShutdown(t *testing.T) {
	app := newH2App(t)
	fr, addr := app.front(t, Config{})
	h := dialH2Raw(t, addr, 1<<20, 1<<20)
	h.send(1, h2Get("/wait?slow"))
	select {
	case <-app.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the request never reached the app")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- fr.Shutdown(ctx) }()
	// A server may first send a GOAWAY naming stream 2^31-1, then the
	// real last stream (RFC 9113 6.8).
	if !h.until(3*time.Second, func() bool { return h.goAway && h.lastID < 1<<31-1 }) {
		t.Fatalf("no GOAWAY with a last stream after Shutdown: %v", h.err)
	}
	if h.lastID != 1 {
		t.Errorf("GOAWAY's last stream %d, want 1", h.lastID)
	}
	hits := app.hits.Load()
	h.send(3, h2Get("/late"))
	app.releaseAll()
	h.until(5*time.Second, func() bool { return false }) // until the server closes
	if a := h.answer(1); a.status != "200" || !a.ended || a.reset || a.body.Len() != h2WaitBody {
		t.Errorf("the request in flight: status %q, ended %v, reset %v (%v), %d bytes of %d", a.status, a.ended, a.reset, a.code, a.body.Len(), h2WaitBody)
	}
	if a := h.answer(3); a.status != "" || app.hits.Load() != hits {
		t.Errorf("a stream opened after the GOAWAY was served: %q", a.status)
	}
	if h.err == nil || isTimeout(h.err) {
		t.Errorf("the connection stayed open: %v", h.err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Shutdown did not return")
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestH2FrontUnknownHost: a host no app serves gets over HTTP/2 the same
// 404 page as over HTTPS/1.1. Gone wrong, a user with a typo would see a
// different page, or none, depending on the browser.
func TestH2FrontUnknownHost(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	c := newH2Client(t, addr)
	req := c.request(t, "GET", "/", nil)
	req.Host = "nobody.localhost"
	resp, b := c.do(t, req)

	h1 := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, TLSNextProto: map[string]func(string, *tls.Conn) http.RoundTripper{}}
	defer h1.CloseIdleConnections()
	req = c.request(t, "GET", "/", nil)
	req.Host = "nobody.localhost"
	resp1, body1 := send(t, &http.Client{Transport: h1, Timeout: 10 * time.Second}, req)
	if resp1.ProtoMajor != 1 {
		t.Fatalf("the HTTPS/1.1 client got %s", resp1.Proto)
	}

	if resp.StatusCode != 404 || resp.StatusCode != resp1.StatusCode || !bytes.Contains(b, []byte("No app is at nobody.localhost")) {
		t.Errorf("HTTP/2: %d %q; HTTPS/1.1: %d", resp.StatusCode, b, resp1.StatusCode)
	}
	checkPage(t, resp, b)
	page := strings.ReplaceAll(string(b), resp.Header.Get("X-Request-Id"), "ID")
	page1 := strings.ReplaceAll(body1, resp1.Header.Get("X-Request-Id"), "ID")
	if page != page1 || resp.Header.Get("Content-Type") != resp1.Header.Get("Content-Type") {
		t.Errorf("HTTP/2 page %q (%s), HTTPS/1.1 page %q (%s)", page, resp.Header.Get("Content-Type"), page1, resp1.Header.Get("Content-Type"))
	}
}

// TestH2FrontRejectsMalformedRequests: an uppercase header name, a
// connection-specific header, a TE other than trailers and a missing :path
// are malformed in HTTP/2 (RFC 9113 8.2 and 8.3): each is refused (reset
// or 4xx) without reaching the app, and another connection goes on being
// served. Gone wrong, a request smuggled past the proxy's view would reach
// an app, or one bad client would disturb others.
func TestH2FrontRejectsMalformedRequests(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	good := newH2Client(t, addr)
	good.get(t, "/before")
	for _, tc := range []struct {
		name  string
		block []byte
	}{
		{"uppercase header name", h2Get("/bad", "X-Upper", "1")},
		{"connection header", h2Get("/bad", "connection", "keep-alive")},
		{"keep-alive header", h2Get("/bad", "keep-alive", "timeout=5")},
		{"te other than trailers", h2Get("/bad", "te", "gzip")},
		{"missing :path", h2Fields(":method", "GET", ":scheme", "https", ":authority", "app.localhost")},
		{"unknown pseudo-header", h2Get("/bad", ":foo", "1")},
		{"pseudo-header after a regular one", h2Fields(":method", "GET", ":scheme", "https", ":authority", "app.localhost", "x-a", "1", ":path", "/bad")},
		{"space in a name", h2Get("/bad", "x a", "1")},
		{"CR LF in a value", h2Get("/bad", "x-a", "b\r\nx-injected: 1")},
		{"NUL in a value", h2Get("/bad", "x-a", "b\x00c")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits := app.hits.Load()
			h := dialH2Raw(t, addr, 1<<20, 1<<20)
			h.send(1, tc.block)
			a := h.answer(1)
			if !h.until(5*time.Second, func() bool { return a.settled() || h.goAway }) && isTimeout(h.err) {
				t.Fatal("no answer, reset or GOAWAY in 5 s")
			}
			t.Logf("status %q, reset %v (%v), GOAWAY %v, connection end %v", a.status, a.reset, a.code, h.goAway, h.err)
			if a.status != "" && (a.status < "400" || a.status >= "500") {
				t.Errorf("answered %s, want a reset or a 4xx", a.status)
			}
			if app.hits.Load() != hits {
				t.Error("the request reached the app")
			}
			if !h.goAway && h.err == nil { // a stream error: the connection goes on
				h.send(3, h2Get("/next"))
				if h.until(5*time.Second, h.answer(3).settled); h.answer(3).status != "200" {
					t.Errorf("the next stream on the connection: %q, %v", h.answer(3).status, h.err)
				}
			}
			good.stillServes(t, "another connection after it")
		})
	}
}

// TestH2FrontAcceptsLegalFrameForms: requests framed in legal but less
// common ways are served as any other: a header block split over HEADERS
// and CONTINUATION frames, HEADERS with padding and a priority, a body in
// padded DATA frames ending with an empty one, a Host field in place of
// :authority (RFC 9113 8.3.1). Gone wrong, a user whose browser or client
// library frames so (large cookies do) would see connection errors.
func TestH2FrontAcceptsLegalFrameForms(t *testing.T) {
	app := newH2App(t)
	_, addr := app.front(t, Config{})
	h := dialH2Raw(t, addr, 1<<20, 1<<20)

	seq := strings.Repeat("s", 8<<10)
	block := h2Get("/split", "x-seq", seq)
	third := len(block) / 3
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:third], EndStream: true}); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteContinuation(1, false, block[third:2*third]); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteContinuation(1, true, block[2*third:]); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: h2Get("/padded"), EndStream: true, EndHeaders: true,
		PadLength: 17, Priority: http2.PriorityParam{StreamDep: 1, Weight: 200}}); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("0123456789"), 3000)
	post := h2Fields(":method", "POST", ":scheme", "https", ":authority", "app.localhost", ":path", "/post")
	if err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: post, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(body); i += 10000 {
		if err := h.fr.WriteDataPadded(5, false, body[i:i+10000], make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.fr.WriteData(5, true, nil); err != nil {
		t.Fatal(err)
	}
	h.send(7, h2Fields(":method", "GET", ":scheme", "https", ":path", "/host", "host", "app.localhost"))

	if !h.until(5*time.Second, func() bool {
		return h.answer(1).settled() && h.answer(3).settled() && h.answer(5).settled() && h.answer(7).settled()
	}) {
		t.Fatalf("not all answered: %v", h.err)
	}
	if a := h.answer(1); a.status != "200" || a.header.Get("Echo-X-Seq") != seq {
		t.Errorf("a header block over CONTINUATION frames: %s, the app saw X-Seq of %d bytes", a.status, len(a.header.Get("Echo-X-Seq")))
	}
	if a := h.answer(3); a.status != "200" || a.body.String() != "GET /padded |" {
		t.Errorf("padded HEADERS with a priority: %s %q", a.status, a.body.String())
	}
	want := fmt.Sprintf("%x %d", sha256.Sum256(body), len(body))
	if a := h.answer(5); a.status != "200" || a.body.String() != want || a.header.Get("Echo-Content-Length") != "-1" && a.header.Get("Echo-Content-Length") != strconv.Itoa(len(body)) {
		t.Errorf("a body in padded DATA frames: %s %q (Content-Length %s), want %q", a.status, a.body.String(), a.header.Get("Echo-Content-Length"), want)
	}
	if a := h.answer(7); a.status != "200" || a.header.Get("Echo-Host") != "app.localhost" {
		t.Errorf("a Host field instead of :authority: %s, the app saw Host %q", a.status, a.header.Get("Echo-Host"))
	}
}
