package proxy

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
)

// table is an immutable route table; SetRoutes swaps it in one atomic step.
type table struct {
	hosts map[string]*route // normalized host -> route
	apps  map[string]*route
}

// route is one app's entry: the Route plus what the hot path needs ready.
type route struct {
	Route
	backends []*backend
	rr       atomic.Uint64
	limiter  *ipLimiter
	setHdr   []headerValue // Route.Headers with a value, canonical keys
	delHdr   []string      // Route.Headers set to ""
	metrics  *series       // its refused requests
	hasSplit bool          // some backend serves Split's slot
}

// backendKey identifies an instance across route tables. A new release on a
// reused address is a new backend, so a backend never changes once built.
type backendKey struct {
	app string
	up  Upstream
}

// backend is one upstream instance with its health state and its checker.
type backend struct {
	up      Upstream
	hc      HealthCheck
	healthy atomic.Bool
	stats   *slotCounters
	series  *series   // nil without metrics
	pool    *connPool // keep-alive connections for bodyless requests
	cancel  context.CancelFunc
}

func (b *backend) stop() {
	b.cancel()
	b.pool.close()
}

// SetRoutes replaces the route table in one atomic step. Upstreams new to
// the table start healthy (the deployer health-gated them) and get active
// health checks; upstreams that left the table lose their checks, and the
// requests already sent to them finish.
func (p *Proxy) SetRoutes(routes []Route) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	t := &table{hosts: map[string]*route{}, apps: map[string]*route{}}
	keep := map[backendKey]bool{}
	releases := map[string]map[string]bool{} // whose series stay, per app
	for _, r := range routes {
		rs := map[string]bool{}
		for _, u := range r.Upstreams {
			rs[releaseLabel(u.Release)] = true
		}
		for _, n := range r.Releases {
			rs[releaseLabel(n)] = true
		}
		releases[r.App] = rs
		rt := p.buildRoute(r, keep)
		t.apps[r.App] = rt
		for _, h := range r.Hosts {
			if h = normalizeHost(h); h != "" {
				t.hosts[h] = rt
			}
		}
	}
	for app, l := range p.limiters {
		if t.apps[app] == nil || t.apps[app].limiter != l {
			delete(p.limiters, app)
		}
	}
	p.table.Store(t)
	p.metrics.prune(t, releases)
	for k, b := range p.backends {
		if !keep[k] {
			b.stop()
			delete(p.backends, k)
		}
	}
}

// buildRoute prepares one route; p.mu is held.
func (p *Proxy) buildRoute(r Route, keep map[backendKey]bool) *route {
	rt := &route{Route: r, metrics: p.metrics.forApp(r.App)}
	for _, u := range r.Upstreams {
		k := backendKey{r.App, u}
		if keep[k] {
			continue // listed twice
		}
		keep[k] = true
		b := p.backends[k]
		if b != nil && b.hc != r.Health {
			b.stop()
			b = nil
		}
		if b == nil {
			b = &backend{up: u, hc: r.Health, stats: p.slotStats(r.App, u.Slot), pool: &connPool{addr: u.Addr},
				series: p.metrics.forInstance(r.App, u)}
			b.healthy.Store(true)
			p.startChecks(b)
			p.backends[k] = b
		}
		rt.backends = append(rt.backends, b)
		rt.hasSplit = rt.hasSplit || rt.onSplit(b)
	}
	if r.RateLimit.RPS > 0 {
		l := p.limiters[r.App]
		if l == nil || l.cfg != r.RateLimit {
			l = newIPLimiter(r.RateLimit)
			p.limiters[r.App] = l
		}
		rt.limiter = l
	}
	for k, v := range r.Headers {
		k = canonicalHeader(k)
		if v == "" {
			rt.delHdr = append(rt.delHdr, k)
		} else {
			rt.setHdr = append(rt.setHdr, headerValue{k, []string{v}})
		}
	}
	return rt
}

// normalizeHost lower-cases host and strips its port and a trailing dot.
func normalizeHost(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		} else if !strings.Contains(host[i:], "]") && strings.Count(host, ":") == 1 {
			host = host[:i]
		}
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if c := host[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(host)
		}
	}
	return host
}
