package proxy

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The proxy's Prometheus series. Both engines count a request in the same
// place, reqState.finish, from what admit and the forwarding recorded, so
// the event loops and Front's goroutines count alike. Series are resolved
// when a route or an instance is built, so the hot path does no label
// lookups.
//
// Labels stay bounded: app, release (vN), slot and process type name an
// instance; code is the status class. No path, no host: a request for a
// host without an app counts under app="", one refused before an instance
// was chosen (maintenance, rate limit, too large, none running) under its
// app with empty release, slot and process type. The series of a release
// that is neither live nor standby are deleted when the routes change.

// Why the proxy answered 499, 502 or 504 itself.
const (
	causeClientClosed = "client_closed"  // 499: the client left before the answer
	causeConnect      = "connect_failed" // 502: no connection to an instance could be made
	causeUpstream     = "upstream_error" // 502: the instance closed, or sent a malformed answer
	causeTimeout      = "timeout"        // 504: the instance did not start answering in time
)

var failureCauses = [...]struct {
	code  int
	cause string
}{{statusClientClosed, causeClientClosed}, {http.StatusBadGateway, causeConnect},
	{http.StatusBadGateway, causeUpstream}, {http.StatusGatewayTimeout, causeTimeout}}

// latencyBuckets resolve 1 ms to 10 s.
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

var instanceLabels = []string{"app", "release", "slot", "process_type"}

// metrics are the Prometheus series of the proxy; nil when no Registerer.
type metrics struct {
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	inFlight      *prometheus.GaugeVec
	bytesIn       *prometheus.CounterVec
	bytesOut      *prometheus.CounterVec
	connectErrors *prometheus.CounterVec
	retries       *prometheus.CounterVec
	failures      *prometheus.CounterVec

	noApp *series // requests for a host without an app

	// The release labels that have series, per app; Proxy.mu guards it.
	releases map[string]map[string]bool
}

// series are the resolved series of one instance's labels, or of an app's
// refused requests (whose instance fields are nil).
type series struct {
	byClass       [6]prometheus.Counter // index status/100
	duration      prometheus.Observer
	bytesIn       prometheus.Counter
	bytesOut      prometheus.Counter
	inFlight      prometheus.Gauge
	connectErrors prometheus.Counter
	retries       prometheus.Counter
	failures      [len(failureCauses)]prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	withCode := append(instanceLabels[:len(instanceLabels):len(instanceLabels)], "code")
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_proxy_requests_total",
			Help: "Requests answered by the proxy, by app, release, slot, process type and status class (code: 2xx).",
		}, withCode),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pier_proxy_request_duration_seconds",
			Help:    "Time from a request's arrival to the end of its answer.",
			Buckets: latencyBuckets,
		}, instanceLabels),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "pier_proxy_requests_in_flight",
			Help: "Requests sent to an instance and not yet answered.",
		}, instanceLabels),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_proxy_request_bytes_total",
			Help: "Bytes of request bodies passed to instances.",
		}, instanceLabels),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_proxy_response_bytes_total",
			Help: "Bytes of answer bodies sent to clients.",
		}, instanceLabels),
		connectErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_proxy_upstream_connect_errors_total",
			Help: "Connections to an instance that could not be made.",
		}, instanceLabels),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_proxy_upstream_retries_total",
			Help: "Requests sent again after an instance could not be reached or closed a pooled connection, by the instance that failed.",
		}, instanceLabels),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_proxy_failed_requests_total",
			Help: "Answers the proxy made itself when a request could not be answered by its instance: 499 client_closed, 502 connect_failed or upstream_error, 504 timeout.",
		}, append(instanceLabels[:len(instanceLabels):len(instanceLabels)], "code", "cause")),
		releases: map[string]map[string]bool{},
	}
	reg.MustRegister(m.requests, m.duration, m.inFlight, m.bytesIn, m.bytesOut, m.connectErrors, m.retries, m.failures)
	m.noApp = m.resolve("", "", "", "", false)
	return m
}

// resolve returns the series of one label set; instance says whether they
// are an instance's (with in-flight, connection and failure series).
func (m *metrics) resolve(app, release, slot, ptype string, instance bool) *series {
	s := &series{
		duration: m.duration.WithLabelValues(app, release, slot, ptype),
		bytesIn:  m.bytesIn.WithLabelValues(app, release, slot, ptype),
		bytesOut: m.bytesOut.WithLabelValues(app, release, slot, ptype),
	}
	for i := 1; i < len(s.byClass); i++ {
		s.byClass[i] = m.requests.WithLabelValues(app, release, slot, ptype, strconv.Itoa(i)+"xx")
	}
	if instance {
		s.inFlight = m.inFlight.WithLabelValues(app, release, slot, ptype)
		s.connectErrors = m.connectErrors.WithLabelValues(app, release, slot, ptype)
		s.retries = m.retries.WithLabelValues(app, release, slot, ptype)
		for i, f := range failureCauses {
			s.failures[i] = m.failures.WithLabelValues(app, release, slot, ptype, strconv.Itoa(f.code), f.cause)
		}
	}
	return s
}

// forApp returns the series of app's refused requests; p.mu is held.
func (m *metrics) forApp(app string) *series {
	if m == nil {
		return nil
	}
	m.noteRelease(app, "")
	return m.resolve(app, "", "", "", false)
}

// forInstance returns the series of u, an instance of app; p.mu is held.
func (m *metrics) forInstance(app string, u Upstream) *series {
	if m == nil {
		return nil
	}
	release := releaseLabel(u.Release)
	m.noteRelease(app, release)
	return m.resolve(app, release, u.Slot, processType(u.Name), true)
}

func (m *metrics) noteRelease(app, release string) {
	rs := m.releases[app]
	if rs == nil {
		rs = map[string]bool{}
		m.releases[app] = rs
	}
	rs[release] = true
}

// prune deletes the series of apps that left the table and of releases
// that are neither in keep (per app, the releases of its running
// instances: the live and the standby slot) nor routed; p.mu is held.
func (m *metrics) prune(t *table, keep map[string]map[string]bool) {
	if m == nil {
		return
	}
	for app, rs := range m.releases {
		if t.apps[app] == nil {
			m.delete(prometheus.Labels{"app": app})
			delete(m.releases, app)
			continue
		}
		for release := range rs {
			if release == "" || keep[app][release] {
				continue
			}
			m.delete(prometheus.Labels{"app": app, "release": release})
			delete(rs, release)
		}
	}
}

func (m *metrics) delete(l prometheus.Labels) {
	m.requests.DeletePartialMatch(l)
	m.duration.DeletePartialMatch(l)
	m.inFlight.DeletePartialMatch(l)
	m.bytesIn.DeletePartialMatch(l)
	m.bytesOut.DeletePartialMatch(l)
	m.connectErrors.DeletePartialMatch(l)
	m.retries.DeletePartialMatch(l)
	m.failures.DeletePartialMatch(l)
}

// releaseLabel is a release's label value: "v7"; "" when not known.
func releaseLabel(n int) string {
	if n <= 0 {
		return ""
	}
	return "v" + strconv.Itoa(n)
}

// processType is the type of the instance called name: "web" of "web.1".
func processType(name string) string {
	t, _, _ := strings.Cut(name, ".")
	return t
}

// observe counts one finished request.
func (s *series) observe(status int, d time.Duration, in, out int64, failure int) {
	if s == nil {
		return
	}
	if c := status / 100; c >= 1 && c < len(s.byClass) {
		s.byClass[c].Inc()
	}
	s.duration.Observe(d.Seconds())
	if in > 0 {
		s.bytesIn.Add(float64(in))
	}
	if out > 0 {
		s.bytesOut.Add(float64(out))
	}
	if failure >= 0 && s.failures[failure] != nil {
		s.failures[failure].Inc()
	}
}

// connectFailed counts a connection to b's instance that could not be made
// and, when again, the request being sent again.
func (b *backend) connectFailed(again bool) {
	if b.series == nil {
		return
	}
	b.series.connectErrors.Inc()
	if again {
		b.series.retries.Inc()
	}
}

// resent counts a request sent again after b's instance closed a pooled
// connection as it went out.
func (b *backend) resent() {
	if b.series != nil {
		b.series.retries.Inc()
	}
}

// failureOf is the index in failureCauses of why the proxy answered status
// itself, or -1.
func failureOf(status int, connect bool) int {
	switch status {
	case statusClientClosed:
		return 0
	case http.StatusBadGateway:
		if connect {
			return 1
		}
		return 2
	case http.StatusGatewayTimeout:
		return 3
	}
	return -1
}
