package proxy

import (
	"bufio"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"time"
)

// stateKey carries the reqState of an upgrade request through the reverse
// proxy's callbacks.
type stateKey struct{}

func stateOf(r *http.Request) *reqState { return r.Context().Value(stateKey{}).(*reqState) }

// newReverseProxy serves protocol upgrades (WebSocket), which need the
// connection hijacked and both directions copied.
func (p *Proxy) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retryTransport{p: p},
		FlushInterval:  -1, // stream: SSE and long pushes arrive as written
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.upstreamError,
		BufferPool:     bufferPool{},
		ErrorLog:       log.New(logfWriter(p.cfg.Logf), "proxy: ", 0),
	}
}

// rewrite points the outgoing request at the chosen instance and sets the
// forwarding headers.
func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := stateOf(pr.In)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = st.backend.up.Addr
	st.setForwardingHeaders(pr.Out.Header)
}

// modifyResponse adds the security headers and the request id to an
// instance's answer.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	st := stateOf(resp.Request)
	st.upstreamStatus = resp.StatusCode
	st.setAnswerHeader(resp.Header)
	return nil
}

// retryTransport is the reverse proxy's transport: Proxy.roundTrip.
type retryTransport struct{ p *Proxy }

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.p.roundTrip(stateOf(req), req)
}

// Hijack hands the client's connection to the reverse proxy once the
// instance switched protocols, with each write to the client bounded by
// the send timeout, as an answer's are (copyBody): a WebSocket client that
// takes none of what it is sent for that long is cut, with the instance's
// connection, rather than holding both and the instance's writer for good.
// Reading is not bounded: a quiet WebSocket stays open.
func (s *reqState) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(s.ResponseWriter).Hijack()
	if err != nil {
		return c, brw, err
	}
	return &sendTimeoutConn{Conn: c, timeout: s.p.sendTimeout}, brw, nil
}

// sendTimeoutConn is a hijacked client connection whose every write may
// wait timeout. Its deadlines are the connection's, which count only for
// a write that waits, so a quiet spell between writes costs nothing.
type sendTimeoutConn struct {
	net.Conn
	timeout time.Duration
}

func (c *sendTimeoutConn) Write(b []byte) (int, error) {
	if err := c.Conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// CloseWrite passes the instance's end of its side on to the client, as
// the reverse proxy does for a connection that can.
func (c *sendTimeoutConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// bufferPool lends the reverse proxy the copy buffers of the lean path.
type bufferPool struct{}

func (bufferPool) Get() []byte { return *copyBuffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) {
	if cap(b) == 32<<10 {
		copyBuffers.Put(&b)
	}
}

// logfWriter turns Config.Logf into an io.Writer for log.Logger.
type logfWriter func(format string, args ...any)

func (f logfWriter) Write(b []byte) (int, error) {
	f("%s", strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
