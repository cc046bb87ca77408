package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestServerSentEventsArriveUnbuffered(t *testing.T) {
	release := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select { // the stream stays open until the client read the first event
		case <-release:
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer sse.Close()
	defer close(release)
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: sse.Listener.Addr().String(), Name: "web.1"}}}})

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", f.srv.URL+"/events", nil)
	req.Host = "app.localhost"
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("first event: %q, %v (the proxy buffered the stream?)", line, err)
	}
}

// echoWebSocket upgrades r to a WebSocket that answers each message with
// "echo: " and the message.
func echoWebSocket(w http.ResponseWriter, r *http.Request) {
	c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer c.Close()
	for {
		mt, msg, err := c.ReadMessage()
		if err != nil {
			return
		}
		if err := c.WriteMessage(mt, append([]byte("echo: "), msg...)); err != nil {
			return
		}
	}
}

// dialWebSocket opens a WebSocket to app.localhost/socket through f.
func dialWebSocket(t *testing.T, f *front) (*websocket.Conn, *http.Response) {
	t.Helper()
	d := websocket.Dialer{
		NetDial:          func(string, string) (net.Conn, error) { return net.Dial("tcp", f.srv.Listener.Addr().String()) },
		HandshakeTimeout: 3 * time.Second,
	}
	c, resp, err := d.Dial("ws://app.localhost/socket", nil)
	if err != nil {
		t.Fatalf("upgrade through the proxy: %v (%v)", err, resp)
	}
	return c, resp
}

func TestWebSocketUpgradePassesThrough(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(echoWebSocket))
	defer ws.Close()
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: ws.Listener.Addr().String(), Name: "web.1"}}}})

	c, resp := dialWebSocket(t, f)
	defer c.Close()
	if resp.Header.Get("X-Request-ID") == "" {
		t.Error("101 answer lacks X-Request-ID")
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for _, m := range []string{"hello", "again"} {
		if err := c.WriteMessage(websocket.TextMessage, []byte(m)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != "echo: "+m {
			t.Fatalf("got %q, %v", got, err)
		}
	}
	c.Close()
	eventually(t, 2*time.Second, "the router logs the finished WebSocket", func() bool {
		l := f.lastLog()
		return l.Status == http.StatusSwitchingProtocols && strings.HasPrefix(l.Path, "/socket")
	})
}
