package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The proxy's own HTTP/1.1 client for requests without a body, the bulk of
// the traffic. It runs in the handler's goroutine: it writes the request
// straight from the client's headers onto a pooled keep-alive connection
// and reads the answer there, where http.Transport would hand each request
// to two goroutines of its own. Requests with a body or an upgrade go
// through http.Transport, which streams a body while it reads the answer.

// Upstream connection pool settings.
const (
	// idleConnTimeout closes a pooled connection unused for this long.
	idleConnTimeout = 90 * time.Second
	// checkIdleAfter is how long a connection may sit in the pool before it
	// is checked for a close by the instance (many servers close idle
	// connections after a few seconds) before it carries a request.
	checkIdleAfter = 500 * time.Millisecond
)

// upConn is one keep-alive connection to an instance, with its buffers.
type upConn struct {
	net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
	reused    bool
	head      []byte // the request head being written
}

// connPool keeps the idle connections to one instance, most recently used
// last, so that a quiet period lets the oldest ones age out.
type connPool struct {
	addr   string
	mu     sync.Mutex
	idle   []*upConn
	closed bool
}

// get returns an idle connection that still looks open, or dials a new one.
func (cp *connPool) get(ctx context.Context, now time.Time) (*upConn, error) {
	for {
		cp.mu.Lock()
		n := len(cp.idle)
		if n == 0 {
			cp.mu.Unlock()
			break
		}
		c := cp.idle[n-1]
		cp.idle[n-1] = nil
		cp.idle = cp.idle[:n-1]
		cp.mu.Unlock()
		if now.Sub(c.idleSince) < checkIdleAfter || connAlive(c.Conn) {
			c.reused = true
			return c, nil
		}
		c.Close()
	}
	return cp.dial(ctx)
}

func (cp *connPool) dial(ctx context.Context) (*upConn, error) {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", cp.addr)
	if err != nil {
		return nil, err
	}
	return &upConn{Conn: conn, br: bufio.NewReaderSize(conn, 4<<10), bw: bufio.NewWriterSize(conn, 4<<10)}, nil
}

// put returns c to the pool, or closes it when the pool is full or closed.
func (cp *connPool) put(c *upConn) {
	if c.br.Buffered() > 0 {
		c.Close() // the instance sent more than its answer
		return
	}
	c.idleSince = time.Now()
	cp.mu.Lock()
	if cp.closed || len(cp.idle) >= maxIdleConnsPerHost {
		cp.mu.Unlock()
		c.Close()
		return
	}
	cp.idle = append(cp.idle, c)
	cp.mu.Unlock()
}

// closeIdle closes the connections idle since before t.
func (cp *connPool) closeIdle(t time.Time) {
	cp.mu.Lock()
	i := 0
	for i < len(cp.idle) && cp.idle[i].idleSince.Before(t) {
		i++
	}
	old := append([]*upConn(nil), cp.idle[:i]...)
	cp.idle = append(cp.idle[:0], cp.idle[i:]...)
	cp.mu.Unlock()
	for _, c := range old {
		c.Close()
	}
}

// close closes the idle connections; connections in use close when their
// requests end.
func (cp *connPool) close() {
	cp.mu.Lock()
	cp.closed = true
	idle := cp.idle
	cp.idle = nil
	cp.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}

// isClosed reports whether the pool's instance left the route table.
func (cp *connPool) isClosed() bool {
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.closed
}

func noStop() bool { return true }

// aLongTimeAgo is a deadline that makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

// pooledBody is an answer's body read from a pooled connection; once read
// to the end and closed, the connection goes back to the pool.
type pooledBody struct {
	rc     io.ReadCloser
	c      *upConn
	pool   *connPool
	stop   func() bool // unregisters the cancellation of the request
	fc     *frontConn  // or Front's connection, which holds c meanwhile
	ctx    context.Context
	eof    bool
	reuse  bool // the answer allows keep-alive
	closed bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.rc.Close()
	live := b.stop()
	if b.fc != nil {
		b.fc.upstream.Store(nil)
		live = b.ctx.Err() == nil
	}
	if live && b.eof && b.reuse {
		b.pool.put(b.c)
	} else {
		b.c.Close()
	}
	return nil
}

// bodyless reports whether r goes through the proxy's own client: no body
// or one Front read whole, no trailers, no upgrade.
func bodyless(r *http.Request) bool {
	return (r.ContentLength == 0 || leanBodyOf(r) != nil) && r.Trailer == nil
}

// fastRoundTrip sends the bodyless request r to st.backend on a pooled
// connection. When no connection can be made it takes that instance out of
// rotation and tries the next healthy one; when a reused connection turns
// out closed before the answer began, it sends an idempotent request again
// on a new one.
func (p *Proxy) fastRoundTrip(st *reqState, r *http.Request) (*http.Response, error) {
	st.url = *r.URL
	st.url.RawQuery = cleanQuery(st.url.RawQuery)
	uri := st.url.RequestURI()
	idempotent := replayable(r)
	tries := 0
	for {
		pool := st.backend.pool
		c, err := pool.get(r.Context(), st.start)
		if err != nil {
			if !isDialError(err) {
				return nil, err
			}
			p.eject(st.backend, err)
			tries++
			var next *backend
			if tries < len(st.route.backends) && idempotent {
				next = st.route.pick(st.toSplit)
			}
			st.backend.connectFailed(next != nil)
			if next == nil {
				return nil, err
			}
			st.backend = next
			continue
		}
		resp, err, sent := p.exchange(st, r, uri, c, pool)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if !c.reused || r.Context().Err() != nil || !resendable(idempotent && closedByPeer(err), sent) {
			return nil, err
		}
		// A connection the instance closed while it sat in the pool: the
		// request never reached the instance, or may be sent again.
		st.backend.resent()
	}
}

// exchange writes the request on c and reads the answer's headers, passing
// informational answers (103 Early Hints) on to the client. sent reports
// whether the whole request was written.
func (p *Proxy) exchange(st *reqState, r *http.Request, uri string, c *upConn, pool *connPool) (resp *http.Response, err error, sent bool) {
	// A client that leaves cuts the connection: Front's watch of a slow
	// request does it through fc, net/http's cancellation through stop.
	stop := noStop
	fc := frontConnOf(r.Context())
	if fc != nil {
		fc.upstream.Store(c)
		if err := r.Context().Err(); err != nil {
			fc.upstream.Store(nil)
			return nil, err, false
		}
	} else if r.Context().Done() != nil {
		stop = context.AfterFunc(r.Context(), func() { c.SetDeadline(aLongTimeAgo) })
	}
	defer func() {
		if err != nil {
			stop()
			if fc != nil {
				fc.upstream.Store(nil)
			}
		}
	}()
	c.SetDeadline(st.start.Add(p.cfg.ResponseHeaderTimeout))
	if err := writeRequest(c, st, r, uri); err != nil {
		return nil, err, false
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, err, true // no answer at all
	}
	for {
		resp, err = st.readResponse(c.br, r)
		if err != nil {
			if errors.Is(err, io.ErrUnexpectedEOF) {
				err = errors.New("the connection closed in the middle of the answer's headers")
			}
			return nil, err, true
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if resp.StatusCode != http.StatusContinue {
			st.got1xx(resp.StatusCode, textproto.MIMEHeader(resp.Header))
		}
	}
	if resp.ContentLength < 0 || int64(c.br.Buffered()) < resp.ContentLength {
		c.SetReadDeadline(time.Time{}) // the body streams for as long as it takes
	}
	st.pbody = pooledBody{rc: resp.Body, c: c, pool: pool, stop: stop, fc: fc, ctx: r.Context(), reuse: !resp.Close}
	resp.Body = &st.pbody
	return resp, nil, true
}

// closedByPeer reports whether err says the instance closed the connection
// before its answer began.
func closedByPeer(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// writeRequest writes r for the instance on c: the head appendRequestHead
// makes of it, then a body Front read whole. net/http has validated every
// name and value it read from the client.
func writeRequest(c *upConn, st *reqState, r *http.Request, uri string) error {
	host := r.Host
	if host == "" {
		host = st.backend.up.Addr
	}
	lb := leanBodyOf(r)
	n := 0
	if lb != nil {
		n = len(lb.b)
	}
	o := outHead{method: r.Method, target: uri, host: host, header: r.Header, conn: r.Header["Connection"], bodyLen: n}
	c.head = appendRequestHead(c.head[:0], &o, &st.fwd)
	c.bw.Write(c.head)
	if lb != nil {
		c.bw.Write(lb.b)
	}
	return c.bw.Flush()
}

// readResponse reads an answer's head from br. The common answer (HTTP/1.1,
// a Content-Length or no body, well-formed fields) is parsed here, with
// one string for the whole head; anything else, chunked answers included,
// is left to http.ReadResponse, as nothing has been consumed yet.
func (st *reqState) readResponse(br *bufio.Reader, req *http.Request) (*http.Response, error) {
	head := peekedHead(br)
	if head == nil {
		return http.ReadResponse(br, req)
	}
	line, rest, _ := strings.Cut(string(head), "\r\n")
	var a answerHead
	if !a.statusLine(line) || a.proto != "HTTP/1.1" || a.code < 200 {
		return http.ReadResponse(br, req) // net/http reads a bare LF as a line's end
	}
	h, ok := parseFields(rest, a.field)
	if !ok || a.chunked || a.trailer || a.dupCL {
		return http.ReadResponse(br, req)
	}
	code, cl, closeAfter := a.code, a.cl, a.closeConn
	noBody := req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	if !a.hasCL && !noBody {
		return http.ReadResponse(br, req) // a body that ends when the connection does
	}
	if noBody && req.Method != http.MethodHead {
		cl = 0 // as net/http reads a 204 or 304
	}
	if closeAfter {
		h.Del("Connection") // as net/http does once it noted the close
	}
	br.Discard(len(head))
	resp := &http.Response{
		Status: a.status, StatusCode: code, Proto: a.proto, ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: cl, Close: closeAfter, Request: req, Body: http.NoBody,
	}
	if !noBody && cl > 0 {
		st.clBody = lengthBody{r: br, n: cl}
		resp.Body = &st.clBody
	}
	return resp, nil
}

// isCTL reports whether r is a control character other than a tab.
func isCTL(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }

// peekedHead returns the answer's head when it fits in br, as readHead
// does for requests; nil otherwise (http.ReadResponse reports a read error).
func peekedHead(br *bufio.Reader) []byte {
	head, err := readHead(br, func() {})
	if err != nil {
		return nil
	}
	return head
}

// lengthBody is a body of n bytes; a connection that ends before them is
// an unexpected EOF.
type lengthBody struct {
	r io.Reader
	n int64
}

func (b *lengthBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	if err == io.EOF {
		if b.n > 0 {
			return n, io.ErrUnexpectedEOF
		}
	} else if err == nil && b.n == 0 {
		err = io.EOF
	}
	return n, err
}

func (b *lengthBody) Close() error { return nil }
