package agent

import (
	"context"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pierhq/pier/api"
)

// The traffic behind `pier metrics -a APP`, for people with no Prometheus:
// the agent samples the proxy's own series (the same ones /metrics
// serves) every sampleEvery and answers with the difference between now
// and the sample trafficWindow ago.

const (
	sampleEvery   = 15 * time.Second
	trafficWindow = 5 * time.Minute
)

// trafficKey is one app's release.
type trafficKey struct{ app, release string }

// trafficCounts are cumulative counts of one release.
type trafficCounts struct {
	requests, errors float64
	bounds, buckets  []float64 // the latency histogram's upper bounds and cumulative counts
}

type trafficSample struct {
	at     time.Time
	counts map[trafficKey]*trafficCounts
}

// trafficSampler keeps the samples of the last trafficWindow, and the
// history (traffic_history.go) when it has states to read.
type trafficSampler struct {
	gather prometheus.Gatherer
	states func() map[string]appState // nil: no history
	hist   *trafficHistory
	mu     sync.Mutex
	ring   []trafficSample // oldest first
	// histAt is the sample of the history's last point: the next point
	// counts from it, once historyStep has passed.
	histAt trafficSample
}

// run samples until ctx ends.
func (s *trafficSampler) run(ctx context.Context) {
	t := time.NewTicker(sampleEvery)
	defer t.Stop()
	for {
		s.sample(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *trafficSampler) sample(now time.Time) {
	cur := trafficSample{at: now, counts: s.read()}
	s.mu.Lock()
	var prev trafficSample
	if len(s.ring) > 0 {
		prev = s.ring[len(s.ring)-1]
	}
	s.ring = append(s.ring, cur)
	for len(s.ring) > 1 && now.Sub(s.ring[1].at) >= trafficWindow {
		s.ring = s.ring[1:]
	}
	from := s.histAt
	addPoint := s.states != nil && !prev.at.IsZero() && now.Sub(from.at) >= historyStep-sampleEvery/2
	if from.at.IsZero() || addPoint {
		s.histAt = cur
	}
	s.mu.Unlock()
	if addPoint {
		s.hist.add(from, cur, s.states())
	}
}

// read takes the proxy's request counters and latency histograms, per app
// and release.
func (s *trafficSampler) read() map[trafficKey]*trafficCounts {
	out := map[trafficKey]*trafficCounts{}
	mfs, err := s.gather.Gather()
	if err != nil {
		return out
	}
	of := func(m *dto.Metric) *trafficCounts {
		var k trafficKey
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "app":
				k.app = l.GetValue()
			case "release":
				k.release = l.GetValue()
			}
		}
		c := out[k]
		if c == nil {
			c = &trafficCounts{}
			out[k] = c
		}
		return c
	}
	for _, mf := range mfs {
		switch mf.GetName() {
		case "pier_proxy_requests_total":
			for _, m := range mf.GetMetric() {
				c := of(m)
				v := m.GetCounter().GetValue()
				c.requests += v
				for _, l := range m.GetLabel() {
					if l.GetName() == "code" && l.GetValue() == "5xx" {
						c.errors += v
					}
				}
			}
		case "pier_proxy_request_duration_seconds":
			for _, m := range mf.GetMetric() {
				c := of(m)
				for i, b := range m.GetHistogram().GetBucket() {
					if i == len(c.bounds) {
						c.bounds = append(c.bounds, b.GetUpperBound())
						c.buckets = append(c.buckets, 0)
					}
					c.buckets[i] += float64(b.GetCumulativeCount())
				}
			}
		}
	}
	return out
}

// appMetrics is app's traffic between the oldest sample and now.
func (s *trafficSampler) appMetrics(app string, now time.Time) api.AppMetrics {
	return s.appMetricsOf(app, now, s.read())
}

// appMetricsOf is appMetrics with cur, a reading of the counters now.
func (s *trafficSampler) appMetricsOf(app string, now time.Time, cur map[trafficKey]*trafficCounts) api.AppMetrics {
	s.mu.Lock()
	var base trafficSample
	if len(s.ring) > 0 {
		base = s.ring[0]
	}
	s.mu.Unlock()
	out := api.AppMetrics{App: app}
	if !base.at.IsZero() {
		out.Window = now.Sub(base.at).Seconds()
	}
	out.Releases = releasesBetween(app, base.counts, cur, out.Window)
	for i := range out.Releases {
		out.Releases[i].Total = cur[trafficKey{app, out.Releases[i].Release}].requests
	}
	return out
}

// releasesBetween is app's traffic per release, newest first, between two
// readings of the counters seconds apart (was may be nil: from the start).
func releasesBetween(app string, was, cur map[trafficKey]*trafficCounts, seconds float64) []api.ReleaseMetrics {
	out := []api.ReleaseMetrics{}
	for k, c := range cur {
		if k.app != app || c.requests == 0 {
			continue // another app's, or series that never counted
		}
		w := was[k]
		if w == nil {
			w = &trafficCounts{}
		}
		r := api.ReleaseMetrics{Release: k.release, Requests: c.requests - w.requests, Errors: c.errors - w.errors}
		if seconds > 0 {
			r.Rate = r.Requests / seconds
		}
		d := c.bucketsSince(w)
		r.P50, r.P95 = quantile(0.5, c.bounds, d), quantile(0.95, c.bounds, d)
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		return releaseNumber(out[i].Release) > releaseNumber(out[j].Release)
	})
	return out
}

// bucketsSince is the latency histogram of the requests counted since was,
// an earlier reading of the same counters.
func (c *trafficCounts) bucketsSince(was *trafficCounts) []float64 {
	d := make([]float64, len(c.buckets))
	for i := range d {
		d[i] = c.buckets[i]
		if i < len(was.buckets) {
			d[i] -= was.buckets[i]
		}
	}
	return d
}

// quantile estimates the q-quantile of a histogram's cumulative counts
// by linear interpolation within a bucket, as Prometheus'
// histogram_quantile does; 0 without observations.
func quantile(q float64, bounds, cumulative []float64) float64 {
	if len(cumulative) == 0 {
		return 0
	}
	total := cumulative[len(cumulative)-1]
	if total <= 0 {
		return 0
	}
	rank := q * total
	for i, c := range cumulative {
		if c >= rank {
			lower, below := 0.0, 0.0
			if i > 0 {
				lower, below = bounds[i-1], cumulative[i-1]
			}
			if math.IsInf(bounds[i], 1) || c == below {
				return bounds[max(i-1, 0)]
			}
			return lower + (bounds[i]-lower)*(rank-below)/(c-below)
		}
	}
	return bounds[len(bounds)-1]
}

// releaseNumber is N of "vN"; 0 for "".
func releaseNumber(r string) int {
	n := 0
	for i := 1; i < len(r); i++ {
		n = n*10 + int(r[i]-'0')
	}
	return n
}

func (a *Agent) getAppMetrics(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.traffic.appMetrics(app.Name, time.Now()))
	return nil
}
