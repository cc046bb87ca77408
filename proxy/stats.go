package proxy

import (
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
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

// metrics are the Prometheus series of the proxy; nil when no Registerer.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// routeMetrics are one app's series, resolved when the route is built so
// the hot path does no label lookups.
type routeMetrics struct {
	byClass  [6]prometheus.Counter // index status/100
	duration prometheus.Observer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_proxy_requests_total",
			Help: "Requests served by the proxy, by app and status class.",
		}, []string{"app", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pier_proxy_request_duration_seconds",
			Help:    "Time from request to the end of the response, by app.",
			Buckets: prometheus.DefBuckets,
		}, []string{"app"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

func (m *metrics) forApp(app string) *routeMetrics {
	if m == nil {
		return nil
	}
	rm := &routeMetrics{duration: m.duration.WithLabelValues(app)}
	for i := 1; i < len(rm.byClass); i++ {
		rm.byClass[i] = m.requests.WithLabelValues(app, strconv.Itoa(i)+"xx")
	}
	return rm
}

func (rm *routeMetrics) observe(status int, seconds float64) {
	if rm == nil {
		return
	}
	if c := status / 100; c >= 1 && c < len(rm.byClass) {
		rm.byClass[c].Inc()
	}
	rm.duration.Observe(seconds)
}
