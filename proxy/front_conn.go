package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// One client connection on Front's goroutines: the TLS handshake, reading
// each request head by the lean rules (front_parse.go), calling the
// handler with the lean writer (front_writer.go), watching the client of a
// slow request, and handing the connection over when a request needs
// net/http.

// frontConn is one client connection served by the front.
type frontConn struct {
	f        *Front
	state    atomic.Int32 // connIdle, connActive or connWatching
	reqStart atomic.Int64 // Unix nanoseconds
	cancel   context.CancelFunc
	upstream atomic.Pointer[upConn] // the instance connection of the request, to cut when the client leaves

	watchMu   sync.Mutex // between starting and ending a watch
	watchDone chan struct{}

	c          net.Conn
	tls        *tls.Conn
	tlsState   *tls.ConnectionState
	remoteAddr string
	base       *http.Request // holds the connection's context for its requests
	br         *bufio.Reader
	bw         *bufio.Writer
	w          frontWriter
	date       dateCache
}

// frontBufSize is the size of a connection's read and write buffers; a
// request head that does not fit goes to net/http, which allows
// ServerMaxHeaderBytes.
const frontBufSize = 4 << 10

var (
	frontReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, frontBufSize) }}
	frontWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, frontBufSize) }}
)

func (fc *frontConn) serve(cfg *tls.Config) {
	f := fc.f
	handedOff := false
	defer func() {
		if !handedOff {
			fc.c.Close()
		}
		f.trackConn(fc, false)
	}()
	switch {
	case cfg != nil:
		// A pipe under the TLS connection lets it move to an event loop
		// after the handshake (loop_tls_linux.go).
		var pipe *tlsPipe
		conn := fc.c
		loops := f.loops.Load()
		if loops != nil {
			pipe = &tlsPipe{Conn: fc.c}
			conn = pipe
		}
		tc := tls.Server(conn, cfg)
		fc.c.SetDeadline(time.Now().Add(ServerReadHeaderTimeout))
		if err := tc.Handshake(); err != nil {
			var re tls.RecordHeaderError
			if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
				io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
				return
			}
			f.logf("http: TLS handshake error from %s: %v", fc.c.RemoteAddr(), err)
			return
		}
		fc.c.SetDeadline(time.Time{})
		cs := tc.ConnectionState()
		switch p := cs.NegotiatedProtocol; p {
		case "", "http/1.1":
			if loops != nil && loops.addTLS(tc, pipe) {
				handedOff = true
				return
			}
		case "h2":
			if loops != nil && loops.addH2(tc, pipe) {
				handedOff = true
				return
			}
			fc.c = tc
			f.serveH2(fc, tc)
			return
		default:
			handedOff = true
			f.handOff(tc, nil, nil, nil) // an ACME TLS-ALPN check
			return
		}
		fc.c, fc.tls, fc.tlsState = tc, tc, &cs
	case fc.tls != nil: // handed back by an event loop
		cs := fc.tls.ConnectionState()
		fc.tlsState = &cs
	}
	fc.remoteAddr = fc.c.RemoteAddr().String()
	ctx := context.WithValue(context.Background(), http.ServerContextKey, f.std)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, fc.c.LocalAddr())
	ctx = context.WithValue(ctx, frontConnKey{}, fc)
	ctx, fc.cancel = context.WithCancel(ctx) // when the client leaves
	defer fc.cancel()
	fc.base = (&http.Request{}).WithContext(ctx)
	fc.br = frontReaders.Get().(*bufio.Reader)
	fc.br.Reset(fc.c)
	fc.bw = frontWriters.Get().(*bufio.Writer)
	fc.bw.Reset(fc.c)
	defer func() {
		if !handedOff {
			fc.br.Reset(nil)
			frontReaders.Put(fc.br)
		}
		fc.bw.Reset(nil)
		frontWriters.Put(fc.bw)
	}()
	for first := true; ; first = false {
		switch fc.serveOne(first) {
		case nextRequest:
			continue
		case handOver:
			handedOff = true
			f.handOff(fc.c, fc.br, fc.tls, fc.tlsState)
			// The reader's bytes were copied; the reader is not reused
			// because net/http now owns the connection it wraps.
		}
		return
	}
}

// looksLikeHTTP reports whether a TLS record header is the start of a
// plain HTTP request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

type outcome int

const (
	closeConn outcome = iota
	nextRequest
	handOver
)

// serveOne reads and answers one request.
func (fc *frontConn) serveOne(first bool) outcome {
	f := fc.f
	idle := ServerIdleTimeout
	if first {
		idle = ServerReadHeaderTimeout
	}
	fc.c.SetReadDeadline(time.Now().Add(idle))
	if _, err := fc.br.Peek(1); err != nil {
		return closeConn
	}
	if !f.setActive(fc) {
		return closeConn
	}
	defer fc.endRequest()
	now := time.Now()
	wait := func() {
		if !first { // the rest of the request gets the time a new connection gets
			fc.c.SetReadDeadline(now.Add(ServerReadHeaderTimeout))
			first = true
		}
	}
	head, err := readHead(fc.br, wait)
	if err != nil {
		if err == errHandOver {
			return handOver
		}
		return closeConn
	}
	r, ok := fc.parseRequest(head)
	if !ok {
		return handOver
	}
	if n := int(r.ContentLength); n > 0 {
		// A small body: wait until it is in the buffer behind the head,
		// so that the connection can still be handed over whole.
		if len(head)+n > fc.br.Size() {
			return handOver
		}
		if fc.br.Buffered() < len(head)+n {
			wait()
		}
		all, err := fc.br.Peek(len(head) + n)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return handOver // a slow client: net/http waits for it
			}
			return closeConn
		}
		body := append([]byte(nil), all[len(head):]...)
		r.Body = newLeanBody(body)
		r.GetBody = func() (io.ReadCloser, error) { return newLeanBody(body), nil }
		n += len(head)
		fc.br.Discard(n)
	} else {
		fc.br.Discard(len(head))
	}
	fc.reqStart.Store(now.UnixNano()) // from here the client may be watched
	// The read deadline stays: the lean path has read all of this request,
	// and the next one sets its own.
	w := &fc.w
	w.reset(fc, r, now)
	f.lean.Add(1)
	if !fc.callHandler(w, r) {
		return closeConn
	}
	if !w.finish() || r.Close || f.shuttingDown() {
		return closeConn
	}
	return nextRequest
}

// watch starts watching the client of the slow request being served for a
// close, as net/http's background read does for every request: a client
// that leaves cancels the request's context and cuts the instance's
// connection. f.mu is held.
func (fc *frontConn) watch() {
	fc.watchMu.Lock()
	defer fc.watchMu.Unlock()
	if !fc.state.CompareAndSwap(connActive, connWatching) {
		return
	}
	fc.c.SetReadDeadline(time.Time{}) // the head's deadline is past use
	done := make(chan struct{})
	fc.watchDone = done
	go func() {
		defer close(done)
		if _, err := fc.br.Peek(1); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			fc.cancel()
			if u := fc.upstream.Load(); u != nil {
				u.SetDeadline(aLongTimeAgo)
			}
		}
		// Bytes of a next request stay in the buffer for the loop.
	}()
}

// endRequest marks the connection idle, once a watch of its client ended.
func (fc *frontConn) endRequest() {
	fc.reqStart.Store(0)
	if fc.state.CompareAndSwap(connActive, connIdle) {
		return
	}
	fc.watchMu.Lock()
	fc.c.SetReadDeadline(aLongTimeAgo)
	done := fc.watchDone
	fc.watchMu.Unlock()
	if done != nil {
		<-done
	}
	fc.state.Store(connIdle)
}

type frontConnKey struct{}

// frontConnOf returns the lean connection a request came on, or nil.
func frontConnOf(ctx context.Context) *frontConn {
	fc, _ := ctx.Value(frontConnKey{}).(*frontConn)
	return fc
}

// callHandler runs the handler; a panic closes the connection, as in
// net/http, and is logged unless it is http.ErrAbortHandler.
func (fc *frontConn) callHandler(w *frontWriter, r *http.Request) (ok bool) {
	defer func() {
		if err := recover(); err != nil {
			ok = false
			if err != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				fc.f.logf("http: panic serving %v: %v\n%s", fc.remoteAddr, err, buf)
			}
		}
	}()
	fc.f.Handler.ServeHTTP(w, r)
	return true
}
