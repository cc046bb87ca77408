package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestMalformedBodyIsTheClients: a request whose chunked body is broken is
// answered 400 and never counted against the instance, so that nobody on
// the internet can make a new release look failing (and roll back) by
// sending such requests. The instance keeps answering well-formed ones.
func TestMalformedBodyIsTheClients(t *testing.T) {
	for _, loops := range []bool{true, false} {
		f := newFrontWith(t, Config{}, loops)
		u := newUpstream(t, "web.1")
		f.SetRoutes([]Route{appRoute("app", u)})
		for _, body := range []string{
			"zz\r\nhello\r\n0\r\n\r\n",    // not a chunk size
			"5\r\nhelloXX0\r\n\r\n",       // no CRLF after the chunk
			"ffffffffffffffffff\r\nx\r\n", // a size that overflows
		} {
			status := rawPost(t, f.srv.Listener.Addr().String(), "app.localhost", body)
			if status != http.StatusBadRequest {
				t.Errorf("loops %v, body %q: status %d, want 400", loops, body, status)
			}
		}
		if got := f.Stats("app")["blue"]; got.Errors5xx != 0 {
			t.Errorf("loops %v: %d answers counted against the instance: %+v", loops, got.Errors5xx, got)
		}
		if resp, _ := f.do(t, "GET", "app.localhost", "/"); resp.StatusCode != 200 {
			t.Errorf("loops %v: a good request after the bad ones: %d", loops, resp.StatusCode)
		}
	}
}

// rawPost sends a chunked POST with body as it is on a new connection and
// returns the answer's status.
func rawPost(t *testing.T, addr, host, body string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST /submit HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n" + body
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", strings.TrimSpace(body), err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestRealIPIsSetByTheProxy: the instance's X-Real-IP is the client the
// proxy saw (past trusted proxies, as for X-Forwarded-For), never what the
// client sent, on both engines.
func TestRealIPIsSetByTheProxy(t *testing.T) {
	for _, loops := range []bool{true, false} {
		u := newUpstream(t, "web.1")
		f := newFrontWith(t, Config{}, loops)
		f.SetRoutes([]Route{appRoute("app", u)})
		resp, _ := f.do(t, "GET", "app.localhost", "/", "X-Real-IP", "6.6.6.6")
		if got := resp.Header.Get("Echo-X-Real-Ip"); got != "127.0.0.1" {
			t.Errorf("loops %v: the app saw X-Real-IP %q, want the connection's 127.0.0.1", loops, got)
		}

		trusting := newFrontWith(t, Config{TrustedProxies: loopback}, loops)
		trusting.SetRoutes([]Route{appRoute("app", u)})
		resp, _ = trusting.do(t, "GET", "app.localhost", "/", "X-Forwarded-For", "203.0.113.9", "X-Real-IP", "6.6.6.6")
		if got := resp.Header.Get("Echo-X-Real-Ip"); got != "203.0.113.9" {
			t.Errorf("loops %v, behind a trusted proxy: the app saw X-Real-IP %q, want 203.0.113.9", loops, got)
		}
	}
}
