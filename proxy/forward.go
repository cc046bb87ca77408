package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
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

// forward sends r to st.backend and streams the answer back. Protocol
// upgrades (WebSocket) go through httputil.ReverseProxy; requests without
// a body through the proxy's own client (upstream.go); the others through
// http.Transport on a lean path that copies no headers it does not have to
// and keeps the request's state out of its context.
func (p *Proxy) forward(st *reqState, r *http.Request) {
	if r.Method == http.MethodConnect || headerHasToken(r.Header["Connection"], "upgrade") {
		p.rp.ServeHTTP(st, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
		return
	}
	var resp *http.Response
	var err error
	if bodyless(r) {
		if lb := leanBodyOf(r); lb != nil {
			st.bytesIn = int64(len(lb.b))
		}
		resp, err = p.fastRoundTrip(st, r)
	} else {
		out := st.outRequest(r)
		defer st.body.done.Store(true)
		resp, err = p.roundTrip(st, out)
		st.mu.Lock()
		st.roundTripDone = true
		st.mu.Unlock()
	}
	if err != nil {
		p.upstreamError(st, r, err)
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		p.upstreamError(st, r, errors.New("switched protocols when no upgrade was asked for"))
		return
	}
	st.upstreamStatus = resp.StatusCode
	h := st.ResponseWriter.Header()
	conn := resp.Header["Connection"]
	for k, vv := range resp.Header {
		if !passAnswerField(st.route, k, conn) {
			continue
		}
		if prev, ok := h[k]; ok {
			vv = append(prev, vv...)
		}
		h[k] = vv // the answer's slices: nothing else uses them
	}
	st.addAnswerFields(h)
	if len(resp.Trailer) > 0 {
		keys := make([]string, 0, len(resp.Trailer))
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	st.WriteHeader(resp.StatusCode)
	flushed, err := p.copyBody(st, resp, r.ProtoMajor == 2)
	if err != nil {
		if r.Context().Value(http.ServerContextKey) != nil {
			panic(http.ErrAbortHandler) // cut the answer short: the client sees it failed
		}
		return
	}
	resp.Body.Close() // now, to fill resp.Trailer
	copyTrailers(st, resp)
	if r.ProtoMajor == 2 && !flushed && st.bytes > 0 && st.bytes < h2HandlerBuffer && len(resp.Trailer) == 0 {
		h2BodyFollows(r.Context()) // headers and body go out as the handler returns
	}
}

// outRequest builds the request to the instance from r: r's fields and
// header values, shared rather than copied, without the hop-by-hop headers
// and with the forwarding headers set.
func (st *reqState) outRequest(r *http.Request) *http.Request {
	st.trace.Got1xxResponse = st.got1xx
	out := r.WithContext(httptrace.WithClientTrace(r.Context(), &st.trace))
	st.url = *r.URL
	st.url.Scheme, st.url.Host = "http", st.backend.up.Addr
	st.url.RawQuery = cleanQuery(st.url.RawQuery)
	out.URL = &st.url
	out.RequestURI = ""
	out.Close = false
	if r.Trailer != nil {
		out.Trailer = r.Trailer.Clone()
	}
	if r.ContentLength == 0 {
		out.Body = nil // lets the transport retry on a stale connection
	} else if r.Body != nil {
		st.body.rc = r.Body
		st.body.ctl, st.body.timeout = http.NewResponseController(st.ResponseWriter), st.p.bodyTimeout
		st.body.timers = r.ProtoMajor == 2
		out.Body = &st.body
	}
	in := r.Header
	h := make(http.Header, len(in)+6) // room for the headers set below
	for k, vv := range in {
		if !hopByHop(k) && !forwardingHeader(k) {
			h[k] = vv
		}
	}
	for _, f := range in["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	if headerHasToken(in["Te"], "trailers") {
		h["Te"] = teTrailers
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = noUserAgent // not Go's default
	}
	st.setForwardingHeaders(h)
	out.Header = h
	return out
}

// got1xx passes an informational answer (103 Early Hints) on to the client
// while the final answer is awaited. 100 Continue is the server's to send,
// when the proxy starts reading the client's body: the instance's would
// be a second one.
func (st *reqState) got1xx(code int, header textproto.MIMEHeader) error {
	if code == http.StatusContinue {
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.roundTripDone {
		return nil // the final answer's headers are being written
	}
	h := st.ResponseWriter.Header()
	for k, vv := range header {
		h[k] = append(h[k], vv...)
	}
	st.ResponseWriter.WriteHeader(code)
	clear(h) // a 1xx answer's headers are not the final answer's
	return nil
}

var (
	teTrailers  = []string{"trailers"}
	noUserAgent = []string{""}
)

// copyBody streams the answer's body to the client, flushing after every
// write so that server-sent events and long pushes arrive as written; it
// reports whether it flushed (the last write is not).
//
// Each write may wait clientSendTimeout for the client, as nginx's
// send_timeout: a client that stops reading (a slow read) lets go of the
// instance's connection then, rather than holding it and the instance's
// worker for good. The deadline is lifted once the answer is written, so
// that it cannot fall on a later request of the connection. Over HTTP/2
// (timers: x/net/http2's deadlines fire whether a write waits or not) it
// is lifted after each write, so that an answer that stays quiet for
// longer (server-sent events) is not cut.
func (p *Proxy) copyBody(st *reqState, resp *http.Response, timers bool) (flushed bool, err error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	flusher, _ := st.ResponseWriter.(http.Flusher)
	ctl := http.NewResponseController(st.ResponseWriter)
	deadline := false
	defer func() {
		if deadline {
			ctl.SetWriteDeadline(time.Time{})
		}
	}()
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			deadline = ctl.SetWriteDeadline(time.Now().Add(p.sendTimeout)) == nil
			w, werr := st.Write(buf[:n])
			if werr == nil && w != n {
				werr = io.ErrShortWrite
			}
			if werr != nil {
				if errors.Is(werr, os.ErrDeadlineExceeded) {
					st.stoppedReading()
				}
				return flushed, werr
			}
			if flusher != nil && (resp.ContentLength < 0 || st.bytes < resp.ContentLength) {
				flusher.Flush() // the last write is flushed when the handler returns
				flushed = true
			}
			if timers && deadline {
				deadline = ctl.SetWriteDeadline(time.Time{}) != nil
			}
		}
		if rerr == io.EOF {
			return flushed, nil
		}
		if rerr != nil {
			if rerr != context.Canceled {
				p.cfg.Logf("proxy: %s %s: reading the answer: %v", st.route.App, st.backend.up.Name, rerr)
			}
			return flushed, rerr
		}
	}
}

// copyTrailers sends the answer's trailers after its body.
func copyTrailers(st *reqState, resp *http.Response) {
	if len(resp.Trailer) == 0 {
		return
	}
	h := st.ResponseWriter.Header()
	if f, ok := st.ResponseWriter.(http.Flusher); ok {
		f.Flush() // chunked, so the trailers can follow
	}
	for k, vv := range resp.Trailer {
		k = http.TrailerPrefix + k
		for _, v := range vv {
			h.Add(k, v)
		}
	}
}

// hopByHop reports whether the canonical header key k concerns only one
// connection (RFC 9110, section 7.6.1).
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// forwardingHeader reports whether k is a forwarding header the client may
// not set for the instance; the proxy sets its own.
func forwardingHeader(k string) bool {
	switch k {
	case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip":
		return true
	}
	return false
}

// headerHasToken reports whether the comma-separated values hold token,
// ignoring case.
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// maxQueryParams is where a query is re-encoded, as httputil does.
const maxQueryParams = 10000

// cleanQuery drops the query parameters an instance could parse differently
// from the proxy (semicolons, bad escapes), as httputil.ReverseProxy does.
func cleanQuery(s string) string {
	reencode := func(s string) string {
		v, _ := url.ParseQuery(s)
		return v.Encode()
	}
	if strings.Count(s, "&")+1 > maxQueryParams {
		return reencode(s)
	}
	for i := 0; i < len(s); {
		switch s[i] {
		case ';':
			return reencode(s)
		case '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return reencode(s)
			}
			i += 3
		default:
			i++
		}
	}
	return s
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// requestBody hands the client's body to the transport without letting the
// transport close it: closing the server's body early can hang a client
// that waits for 100 Continue. Once the handler is done, reads fail: the
// server's body must not be read after that.
//
// It also notes when reading the client's body failed (malformed chunked
// framing, a client gone in the middle), so that the failure is the
// client's, not the instance's.
//
// Each read may wait clientBodyTimeout for the client, as nginx's
// client_body_timeout: a client that stops sending its body (a slow POST)
// then gets a 408 rather than holding its connection and one to the
// instance for good. The servers lift the deadline once the body has
// ended (net/http as it starts watching for the client to leave), so it
// cannot cut a long answer that follows. Over HTTP/2 (x/net/http2) the
// deadline is a timer that fires whether a read waits or not, so it is
// lifted after each read: the time the instance takes to want more of the
// body is not the client's.
type requestBody struct {
	rc      io.ReadCloser
	ctl     *http.ResponseController // of the client's connection; nil once it cannot set deadlines
	timeout time.Duration            // for each read: the proxy's bodyTimeout
	timers  bool                     // the deadline is a timer (HTTP/2): lifted after each read
	n       atomic.Int64             // bytes read, for the metrics
	done    atomic.Bool
	failed  atomic.Pointer[error] // the client's body could not be read
}

var errBodyAfterHandler = errors.New("proxy: request body read after the request ended")

func (b *requestBody) Read(p []byte) (int, error) {
	if b.done.Load() {
		return 0, errBodyAfterHandler
	}
	if b.ctl != nil && b.ctl.SetReadDeadline(time.Now().Add(b.timeout)) != nil {
		b.ctl = nil
	}
	n, err := b.rc.Read(p)
	if b.timers && b.ctl != nil {
		b.ctl.SetReadDeadline(time.Time{})
	}
	b.n.Add(int64(n))
	if err != nil && !errors.Is(err, io.EOF) {
		b.failed.CompareAndSwap(nil, &err)
	}
	return n, err
}

// stalled reports whether the client stopped sending its body for the
// timeout.
func (b *requestBody) stalled() bool {
	return errors.Is(b.clientError(), os.ErrDeadlineExceeded)
}

// clientError is why the client's body could not be read, or nil.
func (b *requestBody) clientError() error {
	if e := b.failed.Load(); e != nil {
		return *e
	}
	return nil
}

func (b *requestBody) Close() error { return nil }

// roundTrip sends req to st.backend; when no connection can be made it
// takes that instance out of rotation and, if req can be sent again, tries
// the next healthy one.
func (p *Proxy) roundTrip(st *reqState, req *http.Request) (*http.Response, error) {
	resp, err := p.tr.RoundTrip(req)
	if err == nil || !isDialError(err) {
		return resp, err
	}
	for tries := 1; err != nil && isDialError(err); tries++ {
		p.eject(st.backend, err)
		var next *backend
		if tries < len(st.route.backends) && replayable(req) {
			next = st.route.pick(st.toSplit)
		}
		st.backend.connectFailed(next != nil)
		if next == nil {
			break
		}
		st.backend = next
		if req, err = retarget(req, next.up.Addr); err != nil {
			return nil, err
		}
		resp, err = p.tr.RoundTrip(req)
	}
	return resp, err
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
	case st.body.stalled():
		st.fail(http.StatusRequestTimeout, "the client's request body stopped arriving for "+st.p.bodyTimeout.String())
		writePage(st, http.StatusRequestTimeout, slowBodyPage, st.p.bodyTimeout.String())
	case r.Context().Err() != nil:
		st.fail(statusClientClosed, "client closed the request")
	case st.body.clientError() != nil:
		// Blame only the instance: a body the client botched is a 400,
		// which no watch window or alert counts against the release.
		st.fail(http.StatusBadRequest, "the client's request body could not be read: "+st.body.clientError().Error())
		writePage(st, http.StatusBadRequest, badBodyPage, st.route.App)
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		st.fail(http.StatusGatewayTimeout, st.backend.up.Name+" did not answer in time: "+err.Error())
		writePage(st, http.StatusGatewayTimeout, timeoutPage, st.route.App)
	default:
		st.fail(http.StatusBadGateway, st.backend.up.Name+": "+err.Error())
		st.connectFailed = isDialError(err)
		writePage(st, http.StatusBadGateway, badGatewayPage, st.route.App)
	}
}

// statusClientClosed is logged when the client left before the answer.
const statusClientClosed = 499

// isDialError reports whether no connection could be made, so the request
// never reached the instance. A dial cancelled because the client left
// says nothing of the instance.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" && !errors.Is(err, context.Canceled)
}

// The replay rule, for both engines: a request may be sent again when no
// answer came only if it is idempotent (replayableMethod) and its body can
// be read again, or if it did not all reach the instance (resendable).

// replayableMethod reports whether a request with method may be sent again
// when no answer came: the instance cannot have acted on it twice.
func replayableMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// replayable reports whether req may be sent again: an idempotent method
// whose body is empty or can be read again.
func replayable(req *http.Request) bool {
	return replayableMethod(req.Method) && (req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
}

// resendable reports whether a request that got no answer may go out
// again: one that did not all reach the instance (sent false) always may,
// one that did only when it is safe to repeat (again).
func resendable(again, sent bool) bool { return !sent || again }

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

// copyBuffers are the 32 KB buffers answers are copied through.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
