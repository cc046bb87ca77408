package proxy

import (
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// reqState follows one request through the proxy. It wraps the client's
// ResponseWriter to record the status and size for the router log; Unwrap
// lets http.ResponseController reach Flush and Hijack.
type reqState struct {
	http.ResponseWriter
	p              *Proxy
	start          time.Time
	route          *route
	backend        *backend
	peerIP         string // the connection's address
	clientIP       string // the client, past trusted proxies
	trustedPeer    bool
	tls            bool
	requestID      string
	status         int
	upstreamStatus int
	bytes          int64 // of the answer's body
	bytesIn        int64 // of a request body read whole; st.body counts a streamed one
	errText        string
	failed         bool             // the proxy answered itself (fail)
	connectFailed  bool             // ... because no instance could be reached
	inFlight       prometheus.Gauge // counted in flight since begin, until end
	toSplit        bool             // the client is on the split's side (split.go)
	setCookie      string           // the split cookie's value to send, "" for none

	// The request to the instance, kept here to save allocations.
	url    url.URL
	body   requestBody
	fwd    [5]string // X-Forwarded-For, -Proto, -Host, X-Request-Id, X-Real-IP
	trace  httptrace.ClientTrace
	pbody  pooledBody
	clBody lengthBody

	mu            sync.Mutex // between got1xx and the end of the round trip
	roundTripDone bool
}

func (s *reqState) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *reqState) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *reqState) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

// fail records why the proxy answered itself.
func (s *reqState) fail(status int, why string) {
	s.status = status
	s.errText = why
	s.failed = true
}

// stoppedReading records that the answer was cut because the client took
// none of it for the proxy's sendTimeout.
func (s *reqState) stoppedReading() {
	if s.errText == "" {
		s.errText = "the client stopped reading the answer for " + s.p.sendTimeout.String()
	}
}

// begin counts the request in flight to the instance admit chose; both
// engines call it once admit let the request through.
func (s *reqState) begin() {
	if s.backend != nil && s.backend.series != nil {
		s.inFlight = s.backend.series.inFlight
		s.inFlight.Inc()
	}
}

// end counts the request out of flight: at finish, or when an event loop
// hands it to Front's goroutines, which admit it again.
func (s *reqState) end() {
	if s.inFlight != nil {
		s.inFlight.Dec()
		s.inFlight = nil
	}
}

// finish counts the request and hands its log line to Config.OnRequest.
func (s *reqState) finish(host, method, path string) {
	status := s.status
	if status == 0 {
		status = s.upstreamStatus
	}
	d := time.Since(s.start)
	s.end()
	failure := -1
	if s.failed {
		failure = failureOf(status, s.connectFailed)
	}
	in := s.bytesIn + s.body.n.Load()
	switch {
	case s.backend != nil:
		s.backend.stats.count(status)
		s.backend.series.observe(status, d, in, s.bytes, failure)
	case s.route != nil:
		s.route.metrics.observe(status, d, in, s.bytes, failure)
	case s.p.metrics != nil:
		s.p.metrics.noApp.observe(status, d, in, s.bytes, failure)
	}
	if s.p.cfg.OnRequest == nil {
		return
	}
	l := RequestLog{
		Time:      s.start,
		Host:      host,
		Method:    method,
		Path:      path, // not the query: it may carry secrets
		Status:    status,
		Bytes:     s.bytes,
		Duration:  d,
		ClientIP:  s.clientIP,
		RequestID: s.requestID,
		Error:     s.errText,
	}
	if s.route != nil {
		l.App = s.route.App
	}
	if s.backend != nil {
		l.Upstream, l.Slot, l.Release = s.backend.up.Name, s.backend.up.Slot, s.backend.up.Release
	}
	s.p.cfg.OnRequest(l)
}
