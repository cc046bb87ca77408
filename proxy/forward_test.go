package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"testing"
)

// serveApp routes app.localhost on a new front to a handler on 127.0.0.1.
func serveApp(t *testing.T, h http.HandlerFunc) *front {
	t.Helper()
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	return f
}

func TestHopByHopHeadersStayOnTheirConnection(t *testing.T) {
	f := serveApp(t, func(w http.ResponseWriter, r *http.Request) {
		for _, k := range []string{"X-Secret", "Keep-Alive", "Forwarded", "Proxy-Authorization"} {
			if v := r.Header.Get(k); v != "" {
				http.Error(w, "got "+k+": "+v, http.StatusBadRequest)
				return
			}
		}
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "1")
		w.Header().Set("X-Kept", "yes")
		io.WriteString(w, r.Header.Get("X-Kept"))
	})
	resp, body := f.do(t, "GET", "app.localhost", "/", "Connection", "X-Secret", "X-Secret", "1",
		"Keep-Alive", "timeout=5", "Forwarded", "for=1.2.3.4", "Proxy-Authorization", "Basic eDp5", "X-Kept", "sent")
	if resp.StatusCode != 200 || body != "sent" {
		t.Fatalf("answer %d %q, want 200 \"sent\"", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Internal") != "" || resp.Header.Get("X-Kept") != "yes" {
		t.Fatalf("answer headers %v: want X-Kept and no X-Internal", resp.Header)
	}
}

func TestEarlyHintsReachTheClient(t *testing.T) {
	f := serveApp(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "page")
	})
	var hints []string
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		hints = append(hints, fmt.Sprintf("%d %s", code, h.Get("Link")))
		return nil
	}}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), "GET", f.srv.URL+"/", nil)
	req.Host = "app.localhost"
	resp, body := send(t, f.srv.Client(), req)
	if resp.StatusCode != 200 || body != "page" || resp.Header.Get("Link") != "" {
		t.Fatalf("answer %d %q with Link %q", resp.StatusCode, body, resp.Header.Get("Link"))
	}
	if len(hints) != 1 || hints[0] != "103 </app.css>; rel=preload" {
		t.Fatalf("early hints %q, want one 103 with the Link", hints)
	}
}

func TestBodiesQueriesAndTrailersPassThrough(t *testing.T) {
	f := serveApp(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Checksum")
		fmt.Fprintf(w, "%s %q %s", r.Method, r.URL.RawQuery, b)
		w.Header().Set("X-Checksum", "abc")
	})
	req, _ := http.NewRequest("POST", f.srv.URL+"/x?a=1&b=2;c=3", strings.NewReader("hello"))
	req.Host = "app.localhost"
	resp, body := send(t, f.srv.Client(), req)
	// The query with a semicolon is re-encoded without the ambiguous part,
	// as httputil.ReverseProxy does.
	if want := `POST "a=1" hello`; body != want {
		t.Fatalf("body %q, want %q", body, want)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "abc" {
		t.Fatalf("trailer X-Checksum %q, want abc", got)
	}
}

func TestAnswerCutShortReachesTheClientCutShort(t *testing.T) {
	f := serveApp(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	c, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("read %q without an error: the client cannot tell the answer was cut", b)
	}
}

func TestReadResponseParsesWhatItCanAndLeavesTheRestToNetHTTP(t *testing.T) {
	cases := []struct {
		name, raw, method string
		status            int
		body              string
		close             bool
		err               bool
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\nhi", "GET", 200, "hi", false, false},
		{"no reason phrase", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "GET", 404, "", false, false},
		{"HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", "HEAD", 200, "", false, false},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", 204, "", false, false},
		{"close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx", "GET", 200, "x", true, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", "GET", 200, "hi", false, false},
		{"until close", "HTTP/1.1 200 OK\r\n\r\nall of it", "GET", 200, "all of it", true, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi", "GET", 200, "hi", true, false},
		{"folded", "HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nhi", "GET", 200, "hi", false, false},
		{"cut short", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhi", "GET", 200, "hi", false, true},
		{"two lengths", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi", "GET", 0, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var st reqState
			req := &http.Request{Method: tc.method}
			resp, err := st.readResponse(bufio.NewReader(strings.NewReader(tc.raw)), req)
			if err != nil {
				if !tc.err || tc.status != 0 {
					t.Fatalf("head: %v", err)
				}
				return
			}
			b, err := io.ReadAll(resp.Body)
			if (err != nil) != tc.err || resp.StatusCode != tc.status || string(b) != tc.body || resp.Close != tc.close {
				t.Fatalf("got %d %q close=%v err=%v", resp.StatusCode, b, resp.Close, err)
			}
			if tc.name == "length" && strings.Join(resp.Header["X-A"], ",") != "1,2" {
				t.Fatalf("X-A: %q", resp.Header["X-A"])
			}
		})
	}
}
