package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http2"
)

// Front is the proxy's server. It answers plain HTTP/1.1 requests without a
// body itself, in each connection's goroutine: it parses the request,
// calls the handler with a lean ResponseWriter and writes the answer,
// without net/http's per-request goroutine, context and buffers. Any
// connection whose request needs more (a body, an upgrade, a host Lean
// refuses, anything unusual or malformed) is handed with the bytes already
// read to a net/http server, hardened as NewServer's, which serves it from
// then on; so do HTTP/2 connections. Every request therefore gets net/http's
// behaviour, the common ones at a fraction of its cost.
type Front struct {
	Handler   http.Handler
	TLSConfig *tls.Config // for ServeTLS

	// Lean reports whether requests for host may take the lean path; nil
	// means every host. The agent's API host does not: its streams need
	// net/http's full-duplex connections.
	Lean func(host string) bool

	ErrorLog *log.Logger // nil: the log package's standard logger

	// Loop, when set, serves plain-HTTP connections in event loops
	// (loop_linux.go) where the platform has them.
	Loop *LoopConfig

	// MaxConns caps the connections open at once; more wait in the
	// kernel's backlog until one closes. 0: no cap.
	MaxConns int

	std     *http.Server
	h2      *http2.Server // HTTP/2 over TLS (front_h2.go)
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
	f.h2 = newH2Server(f.std)
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
		if f.ErrorLog != nil {
			f.std.ErrorLog = f.ErrorLog
		}
		if f.MaxConns > 0 {
			f.sem = make(chan struct{}, f.MaxConns)
		}
		go f.std.Serve(f.handoff) // returns once Shutdown or Close closes it
		go f.watchSlowRequests()  // returns once the front closes
	})
	var loops *loopGroup // for plain connections; TLS ones go there after their handshake
	if f.Loop != nil {
		f.loopOnce.Do(f.startLoops)
		if cfg == nil {
			loops = f.loops.Load()
		}
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
		if !f.startConn(c, cfg, nil) {
			return http.ErrServerClosed
		}
	}
}

// startConn serves c in a goroutine of its own, with a TLS handshake by
// cfg unless nil; tc, unless nil, is the TLS connection under c, whose
// handshake is done. False once the front is closing (c is then closed).
func (f *Front) startConn(c net.Conn, cfg *tls.Config, tc *tls.Conn) bool {
	fc := &frontConn{f: f, c: c, tls: tc}
	if !f.trackConn(fc, true) {
		c.Close()
		return false
	}
	go fc.serve(cfg)
	return true
}

// startBridged serves c, an HTTP/2 stream's request that an event loop
// passes on as HTTP/1.1 (loop_h2_bridge_linux.go), as a connection over
// the TLS whose state is given. False once the front is closing.
func (f *Front) startBridged(c net.Conn, state *tls.ConnectionState) bool {
	fc := &frontConn{f: f, c: c, tlsState: state}
	if !f.trackConn(fc, true) {
		c.Close()
		return false
	}
	go fc.serve(nil)
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
