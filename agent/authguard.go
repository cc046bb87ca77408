package agent

import (
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// authGuard slows and then refuses a client address that keeps failing
// token checks (the API's bearer tokens, git's basic auth over HTTP), so
// that guessing tokens is slow: after guardFree failures within
// guardWindow each further failed answer is delayed, doubling up to
// guardMaxDelay, and after guardBlockAt the address is refused with 429 for
// guardBlockFor. It tracks at most guardMaxClients addresses: past that it
// forgets addresses whose failures are old, then any, to make room.
type authGuard struct {
	mu      sync.Mutex
	clients map[string]*authFailures
	now     func() time.Time
	logf    func(format string, args ...any)

	failures prometheus.Counter // failed token checks
	refused  prometheus.Counter // requests refused while blocked
}

// The guard's limits.
const (
	guardWindow     = 10 * time.Minute
	guardFree       = 5
	guardBlockAt    = 20
	guardBlockFor   = 5 * time.Minute
	guardBaseDelay  = 100 * time.Millisecond
	guardMaxDelay   = 2 * time.Second
	guardMaxClients = 10000
)

// authFailures is what the guard knows of one client address.
type authFailures struct {
	count   int       // failures since first
	first   time.Time // start of the current window
	blocked time.Time // refused until then
	refused int       // requests refused in the current block
}

func newAuthGuard(logf func(string, ...any)) *authGuard {
	return &authGuard{
		clients: map[string]*authFailures{},
		now:     time.Now,
		logf:    logf,
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pier_auth_failures_total",
			Help: "Failed token checks on the API and git over HTTP.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "pier_auth_refused_total",
			Help: "Requests refused (429) from client addresses blocked for failing token checks.",
		}),
	}
}

// collectors are the guard's metrics, for the agent's registry.
func (g *authGuard) collectors() []prometheus.Collector {
	return []prometheus.Collector{g.failures, g.refused}
}

// clientKey groups addresses as the guard counts them: an IPv4 address, an
// IPv6 /64.
func clientKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Is4() || a.Is4In6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// blocked reports how long the client at ip is still refused (0: not).
func (g *authGuard) blocked(ip string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.clients[clientKey(ip)]
	if f == nil {
		return 0
	}
	wait := f.blocked.Sub(g.now())
	if wait <= 0 {
		return 0
	}
	f.refused++
	g.refused.Inc()
	return wait
}

// fail counts a failed token check of the client at ip and returns how long
// to delay its answer.
func (g *authGuard) fail(ip string) time.Duration {
	g.failures.Inc()
	g.mu.Lock()
	defer g.mu.Unlock()
	now, key := g.now(), clientKey(ip)
	f := g.clients[key]
	if f == nil {
		g.makeRoom(now)
		f = &authFailures{first: now}
		g.clients[key] = f
	}
	if now.Sub(f.first) > guardWindow && now.After(f.blocked) {
		*f = authFailures{first: now}
	}
	f.count++
	if f.count >= guardBlockAt && now.After(f.blocked) {
		f.blocked = now.Add(guardBlockFor)
		g.logf("auth: refusing %s for %s after %d failed token checks in %s", key, guardBlockFor, f.count, now.Sub(f.first).Round(time.Second))
		f.count, f.first = 0, f.blocked // a new window starts when the block ends
		return 0
	}
	if f.count <= guardFree {
		return 0
	}
	return min(guardBaseDelay<<min(f.count-guardFree-1, 10), guardMaxDelay)
}

// makeRoom keeps the guard within guardMaxClients before one more is added.
func (g *authGuard) makeRoom(now time.Time) {
	if len(g.clients) < guardMaxClients {
		return
	}
	for k, f := range g.clients {
		if now.Sub(f.first) > guardWindow && now.After(f.blocked) {
			delete(g.clients, k)
		}
	}
	for k := range g.clients {
		if len(g.clients) < guardMaxClients {
			break
		}
		delete(g.clients, k)
	}
}
