package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Front is the proxy's server. It answers plain HTTP/1.1 requests without a
// body itself, in each connection's goroutine: it parses the request,
// calls the handler with a lean ResponseWriter and writes the answer,
// without net/http's per-request goroutine, context and buffers. Any
// connection whose request needs more (a body, an upgrade, a host Fast
// refuses, anything unusual or malformed) is handed with the bytes already
// read to a net/http server, hardened as NewServer's, which serves it from
// then on; so do HTTP/2 connections. Every request therefore gets net/http's
// behaviour, the common ones at a fraction of its cost.
type Front struct {
	Handler   http.Handler
	TLSConfig *tls.Config // for ServeTLS

	// Fast reports whether requests for host may take the lean path; nil
	// means every host. The agent's API host does not: its streams need
	// net/http's full-duplex connections.
	Fast func(host string) bool

	ErrorLog *log.Logger // nil: the log package's standard logger

	// Loop, when set, serves plain-HTTP connections in event loops
	// (loop_linux.go) where the platform has them.
	Loop *LoopConfig

	// MaxConns caps the connections open at once; more wait in the
	// kernel's backlog until one closes. 0: no cap.
	MaxConns int

	std     *http.Server
	handoff *handoffListener
	stdOnce sync.Once

	mu        sync.Mutex
	listeners map[*net.Listener]struct{}
	conns     map[*frontConn]struct{}
	closing   atomic.Bool
	done      chan struct{} // closed once closing is set
	wg        sync.WaitGroup

	loops    atomic.Pointer[loopGroup]
	loopOnce sync.Once
	sem      chan struct{} // MaxConns

	lean, handedOff atomic.Uint64 // requests answered; connections handed over
	looped          atomic.Uint64 // requests the event loops answered
	loopHandedOff   atomic.Uint64 // connections they gave to goroutines
}

// Counts returns how many requests the lean path answered and how many
// connections went to net/http.
func (f *Front) Counts() (lean, handedOff uint64) {
	return f.lean.Load(), f.handedOff.Load()
}

// LoopCounts returns how many requests the event loops proxied and how many
// connections they gave to Front's goroutines.
func (f *Front) LoopCounts() (looped, handedOff uint64) {
	return f.looped.Load(), f.loopHandedOff.Load()
}

// Collectors returns the front's counters for a Prometheus registry: what
// its event loops forwarded, and the connections they gave to goroutines.
func (f *Front) Collectors() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "pier_proxy_event_loop_requests_total",
			Help: "Requests the proxy's event loops forwarded (plain HTTP).",
		}, func() float64 { return float64(f.looped.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "pier_proxy_event_loop_handoffs_total",
			Help: "Connections the event loops gave to the proxy's goroutines: a request they do not serve, or an instance they could not reach.",
		}, func() float64 { return float64(f.loopHandedOff.Load()) }),
	}
}

// NewFront returns a Front for h with NewServer's limits.
func NewFront(h http.Handler, addr string) *Front {
	f := &Front{
		Handler:   h,
		listeners: map[*net.Listener]struct{}{},
		conns:     map[*frontConn]struct{}{},
		done:      make(chan struct{}),
	}
	f.std = NewServer(http.HandlerFunc(f.serveStd), addr)
	f.std.ConnContext = handedOffContext
	f.handoff = newHandoffListener()
	return f
}

// Serve accepts plain connections on l until Shutdown or Close; it then
// returns http.ErrServerClosed.
func (f *Front) Serve(l net.Listener) error {
	return f.serve(l, nil)
}

// ServeTLS accepts TLS connections on l, with f.TLSConfig and HTTP/2
// offered first, until Shutdown or Close.
func (f *Front) ServeTLS(l net.Listener) error {
	if f.TLSConfig == nil {
		return errors.New("proxy: ServeTLS needs a TLSConfig")
	}
	cfg := f.TLSConfig.Clone()
	if !slices.Contains(cfg.NextProtos, "h2") {
		cfg.NextProtos = append([]string{"h2"}, cfg.NextProtos...)
	}
	if !slices.Contains(cfg.NextProtos, "http/1.1") {
		cfg.NextProtos = append(cfg.NextProtos, "http/1.1")
	}
	f.std.TLSConfig = cfg
	return f.serve(l, cfg)
}

func (f *Front) serve(l net.Listener, cfg *tls.Config) error {
	if !f.trackListener(&l, true) {
		return http.ErrServerClosed
	}
	defer f.trackListener(&l, false)
	f.stdOnce.Do(func() {
		if f.MaxConns > 0 {
			f.sem = make(chan struct{}, f.MaxConns)
		}
		go f.std.Serve(f.handoff) // returns once Shutdown or Close closes it
		go f.watchSlowRequests()  // returns once the front closes
	})
	var loops *loopGroup
	if cfg == nil && f.Loop != nil {
		f.loopOnce.Do(f.startLoops)
		loops = f.loops.Load()
	}
	var delay time.Duration
	for {
		release := func() {}
		if f.sem != nil {
			select {
			case f.sem <- struct{}{}:
			case <-f.done:
				return http.ErrServerClosed
			}
			var once sync.Once
			release = func() { once.Do(func() { <-f.sem }) }
		}
		c, err := l.Accept()
		if err != nil {
			release()
			if f.shuttingDown() {
				return http.ErrServerClosed
			}
			if !errors.Is(err, net.ErrClosed) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				f.logf("proxy: accept error: %v; retrying in %v", err, delay)
				select {
				case <-time.After(delay):
				case <-f.done:
				}
				continue
			}
			return err
		}
		delay = 0
		if tc, ok := c.(*net.TCPConn); ok && loops != nil && loops.add(tc, release) {
			continue
		}
		if f.sem != nil {
			c = &releaseConn{Conn: c, release: release}
		}
		if !f.startConn(c, cfg) {
			return http.ErrServerClosed
		}
	}
}

// startConn serves c in a goroutine of its own; false once the front is
// closing (c is then closed).
func (f *Front) startConn(c net.Conn, cfg *tls.Config) bool {
	fc := &frontConn{f: f, c: c}
	if !f.trackConn(fc, true) {
		c.Close()
		return false
	}
	go fc.serve(cfg)
	return true
}

// startLoops starts the event loops, where the platform has them.
func (f *Front) startLoops() {
	g, err := newLoopGroup(f, f.Loop)
	if err != nil {
		f.logf("proxy: no event loops, every connection gets a goroutine: %v", err)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing.Load() {
		g.closeAll()
		return
	}
	f.loops.Store(g)
}

// releaseConn runs release once, when the connection closes.
type releaseConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *releaseConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// Shutdown stops accepting, closes idle connections, lets requests being
// served finish, then closes their connections; connections handed to
// net/http are shut down by it. Past ctx's end it closes what is left.
func (f *Front) Shutdown(ctx context.Context) error {
	f.startClosing()
	stdErr := make(chan error, 1)
	go func() { stdErr <- f.std.Shutdown(ctx) }()
	fastDone := make(chan struct{})
	go func() { f.wg.Wait(); close(fastDone) }()
	var err error
	select {
	case <-fastDone:
	case <-ctx.Done():
		f.closeConns(true)
		err = ctx.Err()
	}
	if e := <-stdErr; err == nil {
		err = e
	}
	return err
}

// Close closes the listeners and every connection at once.
func (f *Front) Close() error {
	f.startClosing()
	f.closeConns(true)
	return f.std.Close()
}

func (f *Front) startClosing() {
	f.mu.Lock()
	if !f.closing.Swap(true) {
		close(f.done)
	}
	for l := range f.listeners {
		(*l).Close()
	}
	f.mu.Unlock()
	if g := f.loops.Load(); g != nil {
		g.shutdown()
	}
	f.closeConns(false)
}

// closeConns closes the idle connections, or all of them.
func (f *Front) closeConns(all bool) {
	if g := f.loops.Load(); g != nil && all {
		g.closeAll()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for fc := range f.conns {
		if all || fc.state.Load() == connIdle {
			fc.c.Close()
		}
	}
}

func (f *Front) shuttingDown() bool { return f.closing.Load() }

func (f *Front) trackListener(l *net.Listener, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		if f.closing.Load() {
			return false
		}
		f.listeners[l] = struct{}{}
	} else {
		delete(f.listeners, l)
	}
	return true
}

func (f *Front) trackConn(fc *frontConn, add bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if add {
		if f.closing.Load() {
			return false
		}
		f.conns[fc] = struct{}{}
		f.wg.Add(1)
	} else {
		delete(f.conns, fc)
		f.wg.Done()
	}
	return true
}

// setActive marks fc as serving a request, or idle; it refuses to start a
// request once the front is shutting down. Shutdown sets closing, then
// closes the connections it sees idle; a connection marks itself active,
// then checks closing: one of the two sees the other.
func (f *Front) setActive(fc *frontConn) bool {
	fc.state.Store(connActive)
	if f.closing.Load() {
		fc.state.Store(connIdle)
		return false
	}
	return true
}

// Connection states.
const (
	connIdle     int32 = iota
	connActive         // serving a request
	connWatching       // serving a slow request, with the client watched
)

// watchAfter is how long a request runs before the front watches its
// client for a close, so that a slow answer is not computed for nobody.
const watchAfter = time.Second

// watchSlowRequests starts watching the clients of requests that have run
// longer than watchAfter, until the front closes.
func (f *Front) watchSlowRequests() {
	t := time.NewTicker(watchAfter / 2)
	defer t.Stop()
	for {
		select {
		case <-f.done:
			return
		case now := <-t.C:
			f.mu.Lock()
			for fc := range f.conns {
				if rs := fc.reqStart.Load(); rs != 0 && fc.state.Load() == connActive && now.UnixNano()-rs > int64(watchAfter) {
					fc.watch()
				}
			}
			f.mu.Unlock()
		}
	}
}

func (f *Front) logf(format string, args ...any) {
	if f.ErrorLog != nil {
		f.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// handOff gives c to the net/http server, with the bytes of br it has not
// consumed read first.
func (f *Front) handOff(c net.Conn, br *bufio.Reader, tc *tls.Conn) {
	f.handedOff.Add(1)
	if br == nil || br.Buffered() == 0 {
		if tc, ok := c.(*tls.Conn); ok {
			c = tc // as it is, so that net/http sees its TLS state and protocol
		} else {
			c = &handedOffConn{Conn: c, tls: tc}
		}
	} else {
		b, _ := br.Peek(br.Buffered())
		c = &handedOffConn{Conn: c, tls: tc, pending: append([]byte(nil), b...)}
	}
	if !f.handoff.push(c) {
		c.Close()
	}
}

// serveStd serves the connections handed to net/http; on TLS connections
// that the front wrapped, it puts back the TLS state net/http cannot see.
func (f *Front) serveStd(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		if hc, ok := r.Context().Value(handedOffKey{}).(*handedOffConn); ok && hc.tls != nil {
			hc.stateOnce.Do(func() { cs := hc.tls.ConnectionState(); hc.state = &cs })
			r.TLS = hc.state
		}
	}
	f.Handler.ServeHTTP(w, r)
}

type handedOffKey struct{}

func handedOffContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*handedOffConn); ok {
		return context.WithValue(ctx, handedOffKey{}, hc)
	}
	return ctx
}

// handedOffConn is a connection given to net/http: the bytes the front had
// read come first. A TLS connection is handed over as a *tls.Conn when
// nothing was read from it (HTTP/2), so net/http sees its state itself.
type handedOffConn struct {
	net.Conn
	pending   []byte
	tls       *tls.Conn
	stateOnce sync.Once
	state     *tls.ConnectionState
}

func (c *handedOffConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handoffListener is the net/http server's listener: it accepts the
// connections the front hands over.
type handoffListener struct {
	conns  chan net.Conn
	mu     sync.Mutex
	closed chan struct{}
	once   sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *handoffListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }

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
	if cfg != nil {
		tc := tls.Server(fc.c, cfg)
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
		if p := cs.NegotiatedProtocol; p != "" && p != "http/1.1" {
			handedOff = true
			f.handOff(tc, nil, nil) // HTTP/2, or an ACME TLS-ALPN check
			return
		}
		fc.c, fc.tls, fc.tlsState = tc, tc, &cs
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
			f.handOff(fc.c, fc.br, fc.tls)
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
