//go:build linux

package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// loopH2Client is an HTTP/2 client of one connection to addr.
func loopH2Client(t *testing.T, addr string) *http.Client {
	t.Helper()
	tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: rewriteTo{addr: addr, rt: tr}, Timeout: 10 * time.Second}
}

// rewriteTo sends every request to addr, keeping its Host.
type rewriteTo struct {
	addr string
	rt   http.RoundTripper
}

func (r rewriteTo) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Host = r.addr
	return r.rt.RoundTrip(req)
}

func loopH2Do(t *testing.T, c *http.Client, method, url string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: answered over %s, want HTTP/2", method, url, resp.Proto)
	}
	return resp, string(b)
}

// A request the loops would forward is served in the loop over HTTP/2 as
// over HTTPS/1.1; one with a body, or for a host the loop does not serve,
// goes to Front's goroutines and comes back with the same HTTPS headers.
func TestLoopServesHTTP2(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := appProxy(t, u)
	fr, addr := serveTLSLoops(t, p, LoopConfig{Direct: func(host, path string) bool { return path != "/goroutines" }})
	c := loopH2Client(t, addr)
	for i := range 20 {
		resp, body := loopH2Do(t, c, "GET", "https://app.localhost/a", nil)
		if resp.StatusCode != 200 || body != "web.1" {
			t.Fatalf("GET %d: %d %q", i, resp.StatusCode, body)
		}
		for k, want := range map[string]string{
			"Echo-X-Forwarded-Proto":    "https",
			"Echo-X-Forwarded-For":      "127.0.0.1",
			"Echo-Host":                 "app.localhost",
			"Strict-Transport-Security": "max-age=31536000",
			"X-Content-Type-Options":    "nosniff",
			"Content-Length":            "5",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s: %q, want %q", k, got, want)
			}
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Error("no X-Request-Id")
		}
	}
	if looped, handed := fr.LoopCounts(); looped != 20 || handed != 0 {
		t.Fatalf("looped %d, handed over %d: want 20 requests in the loop", looped, handed)
	}
	// A body and a path the loop leaves to the goroutines.
	resp, body := loopH2Do(t, c, "POST", "https://app.localhost/body", strings.NewReader(strings.Repeat("b", 300<<10)))
	if resp.StatusCode != 200 || body != "307200" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	resp, body = loopH2Do(t, c, "POST", "https://app.localhost/body", io.MultiReader(strings.NewReader("abc"))) // no length
	if resp.StatusCode != 200 || body != "3" {
		t.Fatalf("POST without a length: %d %q", resp.StatusCode, body)
	}
	resp, body = loopH2Do(t, c, "GET", "https://app.localhost/goroutines", nil)
	if resp.StatusCode != 200 || body != "web.1" {
		t.Fatalf("GET /goroutines: %d %q", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Echo-X-Forwarded-Proto":    "https",
		"Echo-X-Forwarded-For":      "127.0.0.1",
		"Strict-Transport-Security": "max-age=31536000",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("from the goroutines, %s: %q, want %q", k, got, want)
		}
	}
	if looped, _ := fr.LoopCounts(); looped != 20 {
		t.Fatalf("looped %d: the requests for the goroutines were counted as the loop's", looped)
	}
	if u.hits.Load() != 23 {
		t.Fatalf("the instance saw %d requests, want 23", u.hits.Load())
	}
}

// Many streams at once on one connection, some answered in the loop and
// some by the goroutines, each get their own answer.
func TestLoopServesHTTP2StreamsAtOnce(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := appProxy(t, u)
	_, addr := serveTLSLoops(t, p, LoopConfig{})
	c := loopH2Client(t, addr)
	var wg sync.WaitGroup
	errs := make(chan string, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var req *http.Request
			if i%3 == 0 {
				req, _ = http.NewRequest("POST", "https://app.localhost/body", strings.NewReader(strings.Repeat("x", i)))
			} else {
				req, _ = http.NewRequest("GET", "https://app.localhost/", nil)
			}
			resp, err := c.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := "web.1"
			if i%3 == 0 {
				want = strconv.Itoa(i)
			}
			if resp.StatusCode != 200 || string(b) != want {
				errs <- req.Method + ": " + resp.Status + " " + string(b) + ", want " + want
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// A client that asks for a small window gets no more DATA than it allows,
// and all of the answer as it opens the window.
func TestLoopHTTP2KeepsToTheClientsWindow(t *testing.T) {
	payload := []byte(strings.Repeat("0123456789abcdef", 20<<10)) // 320 KB
	p := bigUpstream(t, payload)
	_, addr := serveTLSLoops(t, p, LoopConfig{})
	a := dialH2Settings(t, addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1000})
	if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlockFor("app.localhost", "/big"), EndStream: true, EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	window, connWindow := int64(1000), int64(65535)
	got := 0
	a.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if s := f.PseudoValue("status"); s != "200" {
				t.Fatalf("status %s", s)
			}
		case *http2.DataFrame:
			n := int64(len(f.Data()))
			window -= n
			connWindow -= n
			if window < 0 || connWindow < 0 {
				t.Fatalf("DATA past the window: stream %d, connection %d", window, connWindow)
			}
			got += int(n)
			if f.StreamEnded() {
				if got != len(payload) {
					t.Fatalf("got %d bytes, want %d", got, len(payload))
				}
				return
			}
			if window == 0 {
				// Open the stream's window a little at a time, and the
				// connection's now and then.
				a.fr.WriteWindowUpdate(1, 1000)
				window += 1000
				if connWindow < 10000 {
					a.fr.WriteWindowUpdate(0, 100000)
					connWindow += 100000
				}
			}
		case *http2.RSTStreamFrame, *http2.GoAwayFrame:
			t.Fatalf("after %d bytes: %v", got, f)
		}
	}
}

// dialH2Settings is dialH2 with the client's settings.
func dialH2Settings(t *testing.T, addr string, settings ...http2.Setting) *h2Attacker {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return &h2Attacker{t: t, c: c, fr: fr}
}

func headerBlockFor(host, path string) []byte {
	var buf strings.Builder
	enc := hpack.NewEncoder(&buf)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "https"}, {":authority", host}, {":path", path}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	return []byte(buf.String())
}

// Shutdown lets a request under way finish and says GOAWAY.
func TestLoopHTTP2Shutdown(t *testing.T) {
	release := make(chan struct{})
	slow := newUpstream(t, "web.1")
	slow.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "late")
	})
	p := appProxy(t, slow)
	fr, addr := serveTLSLoops(t, p, LoopConfig{})
	c := loopH2Client(t, addr)
	done := make(chan string, 1)
	go func() {
		_, body := loopH2Do(t, c, "GET", "https://app.localhost/", nil)
		done <- body
	}()
	time.Sleep(200 * time.Millisecond)
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- fr.Shutdown(ctx)
	}()
	time.Sleep(300 * time.Millisecond)
	close(release)
	if body := <-done; body != "late" {
		t.Fatalf("the request under way got %q", body)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
