//go:build linux

package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/net/http2"
)

// The body and send timeouts against what they must not cut (an event
// stream that stays quiet longer than the timeout, an upload the app reads
// slowly) and what they must (a stream whose window a client opens a byte
// at a time).

// A server-sent event stream may stay quiet for longer than the send
// timeout: only a client that does not take what it was sent is cut.
func TestQuietEventStreamIsNotCut(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	quiet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(time.Second) // quiet for three timeouts
		io.WriteString(w, "data: two\n\n")
	}))
	t.Cleanup(quiet.Close)
	const want = "data: one\n\ndata: two\n\n"
	for name, f := range http1Fronts(t, quiet.Listener.Addr().String()) {
		if resp, body := f.do(t, "GET", "app.localhost", "/events"); resp.StatusCode != 200 || body != want {
			t.Errorf("HTTP/1.1 %s: a quiet event stream got %d %q, want 200 %q", name, resp.StatusCode, body, want)
		}
	}
	for name, addr := range h2Servers(t, &h2App{addr: quiet.Listener.Addr().String()}) {
		c := newH2Client(t, addr)
		resp, err := c.Do(c.request(t, "GET", "/events", nil))
		if err != nil {
			t.Fatalf("HTTP/2 %s: %v", name, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want || err != nil {
			t.Errorf("HTTP/2 %s: a quiet event stream got %d %q (%v), want 200 %q", name, resp.StatusCode, body, err, want)
		}
	}
}

// slowReadingApp is an instance whose socket buffers little, that reads
// 64 KB of an upload, pauses for pause, then reads the rest and answers
// with the length it read.
func slowReadingApp(t *testing.T, pause time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.CopyN(io.Discard, r.Body, 64<<10)
		time.Sleep(pause)
		m, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, n+m)
	}))
	srv.Listener = smallBufListener{ln}
	srv.Start()
	t.Cleanup(srv.Close)
	return ln.Addr().String()
}

// smallBufListener shrinks its connections' receive buffers, so that an
// instance that does not read holds the proxy back at once.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetReadBuffer(256 << 10)
	}
	return c, err
}

// A client that sends its upload as fast as it is let is not to blame
// when the app reads it slowly: the body timeout counts only the time the
// proxy waits for the client.
func TestUploadTheAppReadsSlowlyIsNotCut(t *testing.T) {
	shortBodyTimeout(t, 300*time.Millisecond)
	addr := slowReadingApp(t, time.Second)
	const size = 8 << 20
	want := fmt.Sprint(size)
	for name, f := range http1Fronts(t, addr) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/upload", io.LimitReader(zeros{}, size))
		req.Host = "app.localhost"
		req.ContentLength = size
		if resp, body := send(t, f.srv.Client(), req); resp.StatusCode != 200 || body != want {
			t.Errorf("HTTP/1.1 %s: an upload the app reads slowly got %d %.100q, want 200 %q", name, resp.StatusCode, body, want)
		}
	}
	for name, addr := range h2Servers(t, &h2App{addr: addr}) {
		c := newH2Client(t, addr)
		req := c.request(t, "POST", "/upload", io.LimitReader(zeros{}, size))
		req.ContentLength = size
		if resp, body := c.do(t, req); resp.StatusCode != 200 || string(body) != want {
			t.Errorf("HTTP/2 %s: an upload the app reads slowly got %d %.100q, want 200 %q", name, resp.StatusCode, body, want)
		}
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// A client cannot hold a stream, and its instance connection, by opening
// the stream's window a byte at a time: a byte of DATA is not the answer
// moving. Neither when the loop sends the request to the instance itself
// (a GET) nor when Front's goroutines do (a request with a body).
func TestHTTP2StreamWhoseWindowOpensAByteAtATimeIsReset(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	for _, bridged := range []bool{false, true} {
		t.Run(map[bool]string{false: "fast", true: "bridged"}[bridged], func(t *testing.T) {
			app := newEndlessApp(t)
			_, addr := (&h2App{addr: app.addr}).front(t, Config{})
			h := dialH2Raw(t, addr, 1024, 1<<20)
			if bridged {
				block := h2Fields(":method", "POST", ":scheme", "https", ":authority", "app.localhost", ":path", "/endless", "content-length", "1")
				if h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true}) != nil || h.fr.WriteData(1, true, []byte("x")) != nil {
					t.Fatal("the request could not be sent")
				}
			} else {
				h.send(1, h2Get("/endless"))
			}
			a := h.answer(1)
			start := time.Now()
			for !a.reset && time.Since(start) < 5*time.Second {
				if err := h.fr.WriteWindowUpdate(1, 1); err != nil {
					t.Fatal(err)
				}
				h.until(50*time.Millisecond, a.settled)
			}
			if !a.reset {
				t.Fatalf("after %s of one-byte WINDOW_UPDATEs the stream is still open (status %q, %d bytes)",
					time.Since(start).Round(time.Millisecond), a.status, a.body.Len())
			}
			t.Logf("the stream was reset after %s, %d bytes sent", time.Since(start).Round(10*time.Millisecond), a.body.Len())
			app.waitCut(t, start, 5*time.Second)
		})
	}
}

// A client whose connection window is small (64 KB, the protocol's
// default) and that reads two answers as fast as they come, giving each
// byte's window back, gets both: neither waits for the window for the
// send timeout while the other takes it all.
func TestHTTP2StreamsSharingASmallConnectionWindowAreNotCut(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	app := newEndlessApp(t)
	_, addr := (&h2App{addr: app.addr}).front(t, Config{})
	h := dialH2Raw(t, addr, 1<<20, 0)
	h.send(1, h2Get("/endless"))
	h.send(3, h2Get("/endless"))
	a, b := h.answer(1), h.answer(3)
	// The windows go back half a connection window at a time, as
	// nghttp2 gives them.
	owed := map[uint32]uint32{}
	h.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for !a.reset && !b.reset && (a.body.Len() < 4<<20 || b.body.Len() < 4<<20) {
		f, err := h.next()
		if err != nil {
			break
		}
		d, ok := f.(*http2.DataFrame)
		if !ok || len(d.Data()) == 0 {
			continue
		}
		n := uint32(len(d.Data()))
		owed[0] += n
		owed[d.StreamID] += n
		for id, n := range owed {
			if n >= 32<<10 {
				if err := h.fr.WriteWindowUpdate(id, n); err != nil {
					t.Fatalf("after %d and %d bytes: %v", a.body.Len(), b.body.Len(), err)
				}
				owed[id] = 0
			}
		}
	}
	if a.reset || b.reset {
		t.Fatalf("a stream of a client that reads all it gets was reset: stream 1 %d bytes (reset %v), stream 3 %d bytes (reset %v)",
			a.body.Len(), a.reset, b.body.Len(), b.reset)
	}
	if a.body.Len() == 0 || b.body.Len() == 0 {
		t.Errorf("one stream took the whole connection window: stream 1 got %d bytes, stream 3 %d", a.body.Len(), b.body.Len())
	}
	t.Logf("stream 1 got %d bytes, stream 3 %d", a.body.Len(), b.body.Len())
}

// A WebSocket may stay quiet for longer than the body and send timeouts,
// also on a connection whose earlier request sent a body and got an
// answer (their deadlines lifted): the timeouts are for requests'
// bodies and answers, not for a connection that switched protocols.
func TestQuietWebSocketIsNotCut(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	shortBodyTimeout(t, 300*time.Millisecond)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/socket" {
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		}
		echoWebSocket(w, r)
	}))
	t.Cleanup(app.Close)
	for name, f := range http1Fronts(t, app.Listener.Addr().String()) {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", strings.TrimPrefix(f.srv.URL, "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A request with a body streamed to the instance first.
			fmt.Fprintf(conn, "POST /post HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: 10000\r\n\r\n%s", strings.Repeat("x", 10000))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "10000" {
				t.Fatalf("the upload before the WebSocket: %d %q", resp.StatusCode, body)
			}
			if br.Buffered() > 0 {
				t.Fatal("bytes after the first answer")
			}
			u, _ := url.Parse("ws://app.localhost/socket")
			c, resp, err := websocket.NewClient(conn, u, nil, 1024, 1024)
			if err != nil {
				t.Fatalf("upgrade on the same connection: %v (%v)", err, resp)
			}
			for _, m := range []string{"after a quiet second"} {
				time.Sleep(time.Second) // three timeouts
				if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
					t.Fatal(err)
				}
				c.SetReadDeadline(time.Now().Add(3 * time.Second))
				if _, got, err := c.ReadMessage(); err != nil || string(got) != "echo: "+m {
					t.Fatalf("a quiet WebSocket: got %q, %v", got, err)
				}
			}
		})
	}
}

// A WebSocket client that takes none of what the app sends it for the
// send timeout is cut, and the app's connection with it, as an answer's
// would be: else it holds the connection, and the app's writer, for good.
func TestWebSocketClientThatStopsReadingIsCutOff(t *testing.T) {
	shortSendTimeout(t, 300*time.Millisecond)
	for name, loops := range map[string]bool{"loops": true, "goroutines": false} {
		t.Run(name, func(t *testing.T) {
			cut := make(chan time.Time, 1)
			app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
				if err != nil {
					return
				}
				defer c.Close()
				msg := []byte(strings.Repeat("m", 64<<10))
				for range 1024 { // 64 MB
					if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
						cut <- time.Now()
						return
					}
				}
			}))
			t.Cleanup(app.Close)
			f := newFrontWith(t, Config{}, loops)
			f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Name: "web.1", Addr: app.Listener.Addr().String(), Slot: "blue"}}}})
			c, _ := dialWebSocket(t, f)
			defer c.Close() // and read nothing
			start := time.Now()
			select {
			case at := <-cut:
				t.Logf("the app's connection was let go %s after the client stopped reading", at.Sub(start).Round(10*time.Millisecond))
			case <-time.After(5 * time.Second):
				t.Fatal("the app still writes to a WebSocket client that stopped reading 5 s ago")
			}
		})
	}
}
