package proxy

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"
)

// Upstream connection settings: keep-alive pools sized for many concurrent
// clients per instance.
const (
	maxIdleConnsPerHost = 512
	maxIdleConns        = 4096
	dialTimeout         = 3 * time.Second
)

func newTransport(responseHeaderTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // instances are reached directly
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          maxIdleConns,
		MaxIdleConnsPerHost:   maxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: responseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass the client's Accept-Encoding through
	}
}

func (p *Proxy) newReverseProxy() *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &retryTransport{p: p, base: p.tr},
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
	st := pr.In.Context().Value(stateKey{}).(*reqState)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = st.backend.up.Addr
	h := pr.Out.Header
	in := pr.In.Header
	xff, proto, fwdHost := st.peerIP, "http", pr.In.Host
	if pr.In.TLS != nil {
		proto = "https"
	}
	if st.trustedPeer {
		if prior := in["X-Forwarded-For"]; len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + st.peerIP
		}
		if v := in.Get("X-Forwarded-Proto"); v == "http" || v == "https" {
			proto = v
		}
		if v := in.Get("X-Forwarded-Host"); v != "" {
			fwdHost = v
		}
	}
	vals := [...]string{xff, proto, fwdHost, st.requestID}
	v := vals[:] // one allocation for the four values
	h["X-Forwarded-For"] = v[0:1:1]
	h["X-Forwarded-Proto"] = v[1:2:2]
	h["X-Forwarded-Host"] = v[2:3:3]
	h["X-Request-Id"] = v[3:4:4]
}

// modifyResponse adds the security headers and the request id to an
// instance's answer.
func (p *Proxy) modifyResponse(resp *http.Response) error {
	st := resp.Request.Context().Value(stateKey{}).(*reqState)
	st.upstreamStatus = resp.StatusCode
	setSecurityHeaders(resp.Header, st.route, st.tls)
	resp.Header["X-Request-Id"] = []string{st.requestID}
	return nil
}

// upstreamError answers when no instance gave an answer.
func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	st := w.(*reqState)
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		st.fail(http.StatusRequestEntityTooLarge, "request body too large")
		writePage(st, http.StatusRequestEntityTooLarge, tooLargePage, st.route.App)
	case r.Context().Err() != nil:
		st.fail(statusClientClosed, "client closed the request")
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		st.fail(http.StatusGatewayTimeout, st.backend.up.Name+" did not answer in time: "+err.Error())
		writePage(st, http.StatusGatewayTimeout, timeoutPage, st.route.App)
	default:
		st.fail(http.StatusBadGateway, st.backend.up.Name+": "+err.Error())
		writePage(st, http.StatusBadGateway, badGatewayPage, st.route.App)
	}
}

// statusClientClosed is logged when the client left before the answer.
const statusClientClosed = 499

// retryTransport sends a request whose connection could not be made to
// another healthy instance, and takes the failed one out of rotation.
type retryTransport struct {
	p    *Proxy
	base http.RoundTripper
}

func (t *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err == nil || !isDialError(err) {
		return resp, err
	}
	st := req.Context().Value(stateKey{}).(*reqState)
	for tries := 1; err != nil && isDialError(err); tries++ {
		t.p.eject(st.backend, err)
		if tries >= len(st.route.backends) || !replayable(req) {
			break
		}
		next := st.route.pick()
		if next == nil {
			break
		}
		st.backend = next
		if req, err = retarget(req, next.up.Addr); err != nil {
			return nil, err
		}
		resp, err = t.base.RoundTrip(req)
	}
	return resp, err
}

// isDialError reports whether no connection could be made, so the request
// never reached the instance.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replayable reports whether req may be sent again: an idempotent method
// whose body is empty or can be read again.
func replayable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
	default:
		return false
	}
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// retarget copies req for the instance at addr, with a fresh body.
func retarget(req *http.Request, addr string) (*http.Request, error) {
	r2 := *req
	u := *req.URL
	u.Host = addr
	r2.URL = &u
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return nil, err
		}
		r2.Body = body
	}
	return &r2, nil
}

// bufferPool reuses the body copy buffers of the reverse proxy.
type bufferPool struct{}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

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
