package proxy

import (
	"context"
	"crypto/tls"
	"net/http"

	"golang.org/x/net/http2"
)

// HTTP/2 on the front: a TLS connection that negotiated h2 is served by
// x/net/http2 in the front's connection goroutine, with its frames read
// through an h2Guard (h2_guard.go) and its answers written through an
// h2Coalescer (h2_coalesce.go, so an answer's HEADERS and DATA go out
// together), which net/http's bundled copy would not allow (it serves only
// a bare *tls.Conn). The server is the one configured on the front's
// net/http server, so its Shutdown sends GOAWAY to these connections as
// well.

// newH2Server configures HTTP/2 on std and returns its server.
func newH2Server(std *http.Server) *http2.Server {
	h2 := &http2.Server{}
	if err := http2.ConfigureServer(std, h2); err != nil {
		panic("proxy: configuring HTTP/2: " + err.Error()) // only on a TLS config of ours
	}
	return h2
}

// serveH2 serves an HTTP/2 connection until it ends. The connection
// counts as handed over, and as busy: Shutdown ends it with a GOAWAY
// rather than closing it as idle.
func (f *Front) serveH2(fc *frontConn, tc *tls.Conn) {
	f.handedOff.Add(1)
	fc.state.Store(connActive)
	c := newH2Coalescer(newH2Guard(tc, f.logf))
	defer c.Close()
	f.h2.ServeConn(c, &http2.ServeConnOpts{Context: c.context(context.Background()), BaseConfig: f.std, Handler: http.HandlerFunc(f.serveStd)})
}
