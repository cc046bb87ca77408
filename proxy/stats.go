package proxy

import (
	"sync/atomic"
)

// Counters are the requests one slot of an app answered since the proxy
// started. Errors5xx counts 5xx answers of the instances and the 502/504
// the proxy gave when an instance failed.
type Counters struct {
	Requests  uint64
	Errors5xx uint64
}

type slotCounters struct {
	app       string
	requests  atomic.Uint64
	errors5xx atomic.Uint64
}

func (c *slotCounters) count(status int) {
	c.requests.Add(1)
	if status >= 500 {
		c.errors5xx.Add(1)
	}
}

// slotStats returns the counters of app's slot, made on first use; p.mu is held.
func (p *Proxy) slotStats(app, slot string) *slotCounters {
	m := p.stats[app]
	if m == nil {
		m = map[string]*slotCounters{}
		p.stats[app] = m
	}
	c := m[slot]
	if c == nil {
		c = &slotCounters{app: app}
		m[slot] = c
	}
	return c
}

// Stats returns the counters of each slot of app that has served.
func (p *Proxy) Stats(app string) map[string]Counters {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]Counters{}
	for slot, c := range p.stats[app] {
		out[slot] = Counters{Requests: c.requests.Load(), Errors5xx: c.errors5xx.Load()}
	}
	return out
}
