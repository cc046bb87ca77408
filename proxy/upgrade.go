package proxy

import (
	"log"
	"net/http"
	"net/http/httputil"
	"strings"
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
