package proxy

import (
	"math"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter is one app's per-client-IP token buckets.
type ipLimiter struct {
	cfg        RateLimit
	limit      rate.Limit
	burst      int
	retryAfter string   // seconds until a token is back
	buckets    sync.Map // netip.Addr -> *rate.Limiter
}

func newIPLimiter(cfg RateLimit) *ipLimiter {
	burst := cfg.Burst
	if burst <= 0 {
		burst = max(1, int(math.Ceil(cfg.RPS)))
	}
	wait := max(1, int(math.Ceil(1/cfg.RPS)))
	return &ipLimiter{cfg: cfg, limit: rate.Limit(cfg.RPS), burst: burst, retryAfter: strconv.Itoa(wait)}
}

// allow takes a token from ip's bucket.
func (l *ipLimiter) allow(ip netip.Addr) bool {
	v, ok := l.buckets.Load(ip)
	if !ok {
		v, _ = l.buckets.LoadOrStore(ip, rate.NewLimiter(l.limit, l.burst))
	}
	return v.(*rate.Limiter).Allow()
}

// sweep forgets the buckets that are full again: those clients are back to
// where a new bucket would start.
func (l *ipLimiter) sweep(now time.Time) {
	l.buckets.Range(func(k, v any) bool {
		if v.(*rate.Limiter).TokensAt(now) >= float64(l.burst) {
			l.buckets.Delete(k)
		}
		return true
	})
}

// limiterSweepInterval is how often idle buckets are dropped.
const limiterSweepInterval = time.Minute

// sweepLimiters bounds the memory of the rate limiters until Close.
func (p *Proxy) sweepLimiters() {
	defer p.wg.Done()
	t := time.NewTicker(limiterSweepInterval)
	defer t.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case now := <-t.C:
			p.mu.Lock()
			ls := make([]*ipLimiter, 0, len(p.limiters))
			for _, l := range p.limiters {
				ls = append(ls, l)
			}
			p.mu.Unlock()
			for _, l := range ls {
				l.sweep(now)
			}
		}
	}
}
