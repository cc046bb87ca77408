// Package proxy is pier's edge: routing by Host to the live slot of each app,
// health checks, TLS through certmagic, headers, rate limits, request logs
// and metrics. An Edge (edge.go) follows the desired routes of a RouteSource
// (the agent's route table), decides which instances serve, and swaps an
// immutable route table in one atomic step. It imports nothing of the agent.
package proxy

import (
	"time"
)

// Upstream is one instance a route sends requests to.
type Upstream struct {
	Addr    string // host:port
	Name    string // "web.1"
	Slot    string
	Release int
}

// HealthCheck says how to tell a healthy instance. The zero value means an
// HTTP GET of / that answers below 500 within 5 s.
type HealthCheck struct {
	Path     string
	Content  string // the body must contain it, when set
	Timeout  time.Duration
	Interval time.Duration // between active checks of a live upstream
}

// RateLimit is a per-client-IP token bucket; zero RPS means no limit.
type RateLimit struct {
	RPS   float64
	Burst int
}

// Route is everything the proxy needs to serve one app.
type Route struct {
	App         string
	Hosts       []string // APP.<domain> and the custom domains, lower case
	Upstreams   []Upstream
	Maintenance bool
	Health      HealthCheck
	RateLimit   RateLimit
	Headers     map[string]string // response header overrides ("" deletes)
	// Releases whose metrics stay besides those of Upstreams: the releases
	// of the app's other running instances (the standby slot). The series
	// of any other release are deleted when the routes change.
	Releases []int
	// Split sends a share of the app's clients to a second slot: a canary
	// or an A/B test (split.go). The zero value sends everyone live.
	Split Split
}

// RequestLog is one finished request, for the router log line.
type RequestLog struct {
	Time      time.Time
	App       string
	Host      string
	Method    string
	Path      string
	Status    int
	Bytes     int64
	Duration  time.Duration
	ClientIP  string
	RequestID string
	Upstream  string // instance name, "web.1"
	Slot      string
	Release   int
	Error     string // why the proxy answered itself (no upstream, dial failed)
}
