package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/pierhq/pier/proxy/internal/benchcert"
)

// serverFrames writes a server's frames with a Framer, one slice per call
// of write.
func serverFrames(writes ...func(fr *http2.Framer)) [][]byte {
	var out [][]byte
	for _, w := range writes {
		var buf bytes.Buffer
		w(http2.NewFramer(&buf, nil))
		out = append(out, buf.Bytes())
	}
	return out
}

func TestH2OutScannerHoldsOnlyHeadersABodyFollows(t *testing.T) {
	block := []byte("\x88") // :status 200
	headers := func(endStream, endHeaders bool) func(fr *http2.Framer) {
		return func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndStream: endStream, EndHeaders: endHeaders})
		}
	}
	data := func(fr *http2.Framer) { fr.WriteData(1, true, []byte("hello")) }
	for _, tc := range []struct {
		name   string
		writes [][]byte
		hold   []bool // after each write
	}{
		{"headers of an answer with a body", serverFrames(headers(false, true)), []bool{true}},
		{"headers that end the stream", serverFrames(headers(true, true)), []bool{false}},
		{"headers and body together", serverFrames(func(fr *http2.Framer) { headers(false, true)(fr); data(fr) }), []bool{false}},
		{"then the body", serverFrames(headers(false, true), data), []bool{true, false}},
		{"a block ended by a CONTINUATION", serverFrames(headers(false, false), func(fr *http2.Framer) {
			fr.WriteContinuation(1, true, block)
		}), []bool{false, true}},
		{"a CONTINUATION of headers that end the stream", serverFrames(headers(true, false), func(fr *http2.Framer) {
			fr.WriteContinuation(1, true, block)
		}), []bool{false, false}},
		{"settings", serverFrames(func(fr *http2.Framer) { fr.WriteSettings() }), []bool{false}},
		{"body, then headers of another stream", serverFrames(data, headers(false, true)), []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s h2OutScanner
			for i, w := range tc.writes {
				if got := s.scan(w); got != tc.hold[i] {
					t.Errorf("write %d: hold %v, want %v", i, got, tc.hold[i])
				}
			}
			// The same bytes a byte at a time: only the end counts.
			var s1 h2OutScanner
			for i, w := range tc.writes {
				var got bool
				for j := range w {
					got = s1.scan(w[j : j+1])
				}
				if got != tc.hold[i] {
					t.Errorf("write %d a byte at a time: hold %v, want %v", i, got, tc.hold[i])
				}
			}
		})
	}
}

// recordingConn records each write an HTTP/2 server makes, beneath the
// coalescer: each is one TLS record on the wire.
type recordingConn struct {
	*tls.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *recordingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	c.mu.Unlock()
	return c.Conn.Write(p)
}

// serveH2Recorded serves h over HTTP/2 with TLS on 127.0.0.1, through an
// h2Coalescer, and returns a client, the server's URL and its recorded
// writes.
func serveH2Recorded(t *testing.T, h http.Handler) (*http.Client, string, func() [][]byte) {
	t.Helper()
	cfg, err := benchcert.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	cfg.NextProtos = []string{"h2"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := make(chan *recordingConn, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(c, cfg)
		if tc.Handshake() != nil {
			tc.Close()
			return
		}
		rc := &recordingConn{Conn: tc}
		rec <- rc
		co := newH2Coalescer(rc)
		defer co.Close()
		(&http2.Server{}).ServeConn(co, &http2.ServeConnOpts{Context: co.context(context.Background()), Handler: h})
	}()
	tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(func() { tr.CloseIdleConnections(); l.Close(); wg.Wait() })
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, "https://" + l.Addr().String() + "/", func() [][]byte {
		rc := <-rec
		rec <- rc
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return append([][]byte(nil), rc.writes...)
	}
}

// frameTypesOf reads the frames of one write.
func frameTypesOf(t *testing.T, w []byte) []http2.FrameType {
	var types []http2.FrameType
	fr := http2.NewFramer(nil, bytes.NewReader(w))
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return types
		}
		if err != nil {
			t.Fatalf("the server wrote a broken frame: %v", err)
		}
		types = append(types, f.Header().Type)
	}
}

// countAnswers checks the server's writes: each answer's HEADERS goes out
// with its DATA, in one write (one TLS record, one system call).
func countAnswers(t *testing.T, writes [][]byte) int {
	t.Helper()
	answers := 0
	for _, w := range writes {
		types := frameTypesOf(t, w)
		for j, typ := range types {
			if typ != http2.FrameHeaders {
				continue
			}
			answers++
			if j+1 >= len(types) || types[j+1] != http2.FrameData {
				t.Errorf("a write of %v: the answer's HEADERS without its DATA (two TLS records, two system calls)", types)
			}
		}
	}
	return answers
}

func getBody(t *testing.T, client *http.Client, url, host string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// A small answer goes out in one write: a handler's that says its body
// follows, and the proxy's, which says so for an answer written whole.
func TestHTTP2AnswerGoesOutInOneWrite(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := New(Config{Domain: "localhost"})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{appRoute("app", u)})
	for _, tc := range []struct {
		name, host, body string
		h                http.Handler
	}{
		{"a handler", "", "hello", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "hello")
			h2BodyFollows(r.Context())
		})},
		{"the proxy", "app.localhost", "web.1", p},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, url, writes := serveH2Recorded(t, tc.h)
			for i := range 3 {
				if body := getBody(t, client, url, tc.host); body != tc.body {
					t.Fatalf("request %d: body %q, want %q", i, body, tc.body)
				}
			}
			if n := countAnswers(t, writes()); n != 3 {
				t.Errorf("saw %d answers' HEADERS in the server's writes, want 3", n)
			}
		})
	}
}

// An event stream's headers go out at once, before its first event; and
// headers held for a body that does not come go out after h2HoldHeaders.
func TestHTTP2HeadersWithoutTheirBodyGoOut(t *testing.T) {
	for _, tc := range []struct {
		name     string
		announce bool
	}{
		{"an event stream", false},
		{"a body announced that does not come", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			client, url, _ := serveH2Recorded(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.announce {
					h2BodyFollows(r.Context())
				}
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(http.StatusOK)
				w.(http.Flusher).Flush()
				<-release
				io.WriteString(w, "data: 1\n\n")
			}))
			defer close(release)
			start := time.Now()
			resp, err := client.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// The handler still holds the body: the headers came on their own.
			if took := time.Since(start); took > time.Second {
				t.Errorf("the stream's headers took %v", took)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}
