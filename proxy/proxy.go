package proxy

import (
	"context"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Config is what New needs. Only Domain is required; the zero value of every
// other field is a sane default.
type Config struct {
	Domain         string       // "localhost": APP.<domain>
	ControlHost    string       // "pier.localhost": served by Control
	Control        http.Handler // the agent's API (nil answers 404)
	OnRequest      func(RequestLog)
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64 // default 100 MB; larger bodies get 413
	Logf           func(format string, args ...any)
	Registerer     prometheus.Registerer // nil: no metrics

	// ResponseHeaderTimeout bounds the wait for an instance to start
	// answering; past it the client gets 504. Default 60 s.
	ResponseHeaderTimeout time.Duration
}

// DefaultMaxBodyBytes is the request body limit when Config.MaxBodyBytes is 0.
const DefaultMaxBodyBytes = 100 << 20

// Proxy routes requests by Host to the healthy instances of each app. It is
// an http.Handler; serve it with NewServer.
type Proxy struct {
	cfg Config
	// How long a client may leave a request body, or an answer, without
	// moving: clientBodyTimeout and clientSendTimeout when it was made.
	bodyTimeout, sendTimeout time.Duration
	control                  string // lower-case control host
	table                    atomic.Pointer[table]
	rp                       *httputil.ReverseProxy
	tr                       *http.Transport
	metrics                  *metrics

	mu       sync.Mutex // serializes SetRoutes and guards the maps below
	backends map[backendKey]*backend
	limiters map[string]*ipLimiter // per app, kept across swaps
	stats    map[string]map[string]*slotCounters

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// New returns a proxy with an empty route table.
func New(cfg Config) *Proxy {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = 60 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Proxy{
		cfg:         cfg,
		bodyTimeout: clientBodyTimeout,
		sendTimeout: clientSendTimeout,
		control:     normalizeHost(cfg.ControlHost),
		backends:    map[backendKey]*backend{},
		limiters:    map[string]*ipLimiter{},
		stats:       map[string]map[string]*slotCounters{},
		metrics:     newMetrics(cfg.Registerer),
		ctx:         ctx,
		cancel:      cancel,
	}
	p.tr = newTransport(cfg.ResponseHeaderTimeout)
	p.rp = p.newReverseProxy()
	p.table.Store(&table{hosts: map[string]*route{}})
	p.wg.Add(1)
	go p.sweepLimiters()
	return p
}

// Close stops the health checks and closes idle upstream connections.
// In-flight requests are not interrupted.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	for k, b := range p.backends {
		b.stop()
		delete(p.backends, k)
	}
	p.mu.Unlock()
	p.cancel()
	p.wg.Wait()
	p.tr.CloseIdleConnections()
	return nil
}

// HostKnown reports whether host is routed to an app or is the control host;
// on-demand TLS asks it before getting a certificate.
func (p *Proxy) HostKnown(host string) bool {
	h := normalizeHost(host)
	if h == "" {
		return false
	}
	if h == p.control && p.control != "" {
		return true
	}
	_, ok := p.table.Load().hosts[h]
	return ok
}

// Lean reports whether requests for host may take Front's lean path: every
// host but the control host, whose API streams need net/http.
func (p *Proxy) Lean(host string) bool {
	return p.control == "" || normalizeHost(host) != p.control
}

// Healthy lists the instances of app currently in rotation.
func (p *Proxy) Healthy(app string) []Upstream {
	rt := p.table.Load().apps[app]
	if rt == nil {
		return nil
	}
	var out []Upstream
	for _, b := range rt.backends {
		if b.healthy.Load() {
			out = append(out, b.up)
		}
	}
	return out
}

// ServeHTTP routes one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{ResponseWriter: w, start: time.Now(), p: p}
	a := arrivalOf(r)
	v := p.admit(st, &a)
	if v == toControl {
		if p.cfg.Control == nil {
			http.NotFound(w, r)
			return
		}
		p.cfg.Control.ServeHTTP(w, r)
		return
	}
	defer func() { st.finish(r.Host, r.Method, r.URL.Path) }()
	if v != forwardIt {
		refuse(st, v, r.Host)
		return
	}
	st.begin()
	if r.Body != nil && r.Body != http.NoBody && leanBodyOf(r) == nil {
		r.Body = http.MaxBytesReader(st, r.Body, p.cfg.MaxBodyBytes)
	}
	p.forward(st, r)
}
