package api

import (
	"context"
	"net/http"
	"time"
)

// StatusCanary is a release that serves a share of its app's traffic while
// it is analysed; it ends live (promoted) or failed (aborted).
const StatusCanary = "canary"

// Canary states.
const (
	CanaryRunning = "running"
	CanaryPaused  = "paused" // holds its share; no checks until resumed
	CanarySplit   = "split"  // an A/B split: holds its share, never checked
)

// Canary verdicts of one check.
const (
	CheckPassed       = "passed"
	CheckFailed       = "failed"
	CheckInconclusive = "inconclusive" // too few requests: the step waits
)

// DefaultCanarySteps are the traffic shares a canary goes through, in
// percent, when none are given.
var DefaultCanarySteps = []int{5, 25, 50, 100}

// DefaultCanaryInterval is how long each step lasts when none is given.
const DefaultCanaryInterval = Duration(time.Minute)

// Canary is a release that gets a growing share of its app's traffic in
// steps, each judged on the proxy's own numbers against the live release.
type Canary struct {
	Release   int       `json:"release"`
	Slot      string    `json:"slot"`
	Steps     []int     `json:"steps"` // shares in percent, increasing, ending at 100
	Step      int       `json:"step"`  // index into Steps
	Interval  Duration  `json:"interval"`
	State     string    `json:"state"`
	StartedAt time.Time `json:"started_at"`
	StartedBy string    `json:"started_by,omitempty"`
	// StepSince is when the current step's window began: its checks
	// compare the requests since then.
	StepSince time.Time `json:"step_since"`
	// Checks counts the checks made; Failures those that failed, and
	// FailuresInRow those that failed one after another.
	Checks        int          `json:"checks"`
	Failures      int          `json:"failures"`
	FailuresInRow int          `json:"failures_in_row"`
	Last          *CanaryCheck `json:"last,omitempty"`
	// Baseline is the live release's numbers from the last check in which
	// it had enough requests: the comparison once the canary has them all.
	Baseline *ReleaseNumbers `json:"baseline,omitempty"`
}

// Weight is the share of traffic the canary has now, in percent.
func (c Canary) Weight() int {
	if c.Step < 0 || c.Step >= len(c.Steps) {
		return 0
	}
	return c.Steps[c.Step]
}

// ReleaseNumbers are one release's requests over a check's window.
type ReleaseNumbers struct {
	Release  string  `json:"release"`
	Requests float64 `json:"requests"`
	Errors   float64 `json:"errors"`      // answers with a 5xx status
	Success  float64 `json:"success_pct"` // of requests, 100 without any
	P95      float64 `json:"p95"`         // seconds
	P99      float64 `json:"p99"`
}

// CanaryCheck is one analysis of a step: the numbers compared and the
// verdict with its reason.
type CanaryCheck struct {
	At      time.Time      `json:"at"`
	Step    int            `json:"step"`
	Weight  int            `json:"weight"`
	Canary  ReleaseNumbers `json:"canary"`
	Live    ReleaseNumbers `json:"live"`
	Verdict string         `json:"verdict"`
	Reason  string         `json:"reason,omitempty"`
}

// CanarySettings are an app's canary settings (`pier settings`, canary.*):
// whether a push starts a canary, its plan, and the thresholds that judge
// its checks. Zero fields take the defaults.
type CanarySettings struct {
	OnPush   bool     `json:"on_push,omitempty"`  // a push deploys as a canary
	Steps    []int    `json:"steps,omitempty"`    // of a push's canary
	Interval Duration `json:"interval,omitempty"` // of a push's canary

	MinRequests    int     `json:"min_requests,omitempty"`        // per check, below: inconclusive (default 20)
	MaxErrorPct    float64 `json:"max_error_pct,omitempty"`       // points of 5xx above live's (default 1)
	MaxLatency     float64 `json:"max_latency_ratio,omitempty"`   // p95 and p99 at most this times live's, plus 50 ms (default 1.5)
	MaxFailures    int     `json:"max_failures,omitempty"`        // failed checks in all before an abort (default 1)
	MaxFailuresRow int     `json:"max_failures_in_row,omitempty"` // failed checks in a row before an abort (default 1)
}

// CanaryRequest starts a canary (POST /v1/apps/{app}/canary). Release 0
// means the app's newest release that is not live.
type CanaryRequest struct {
	Release int `json:"release,omitempty"`
	// Split makes an A/B split (`pier split`): one step under 100, held
	// with no analysis until promoted or aborted.
	Split    bool     `json:"split,omitempty"`
	Steps    []int    `json:"steps,omitempty"`
	Interval Duration `json:"interval,omitempty"`
}

// CanaryStatus is GET /v1/apps/{app}/canary and the answer of its actions
// (POST /v1/apps/{app}/canary/{promote,abort,pause,resume}).
type CanaryStatus struct {
	App    string  `json:"app"`
	Canary *Canary `json:"canary,omitempty"` // nil: no canary runs
	Live   int     `json:"live_release,omitempty"`
	// Message says what an action did.
	Message string `json:"message,omitempty"`
}

// StartCanary starts a canary of release (0: the newest release that is
// not live) with steps and interval (nil, 0: the defaults).
func (c *Client) StartCanary(ctx context.Context, app string, req CanaryRequest) (CanaryStatus, error) {
	var st CanaryStatus
	err := c.do(ctx, http.MethodPost, appPath(app, "canary"), req, &st)
	return st, err
}

// Canary returns app's canary, if one runs.
func (c *Client) Canary(ctx context.Context, app string) (CanaryStatus, error) {
	var st CanaryStatus
	err := c.do(ctx, http.MethodGet, appPath(app, "canary"), nil, &st)
	return st, err
}

// CanaryAction promotes, aborts, pauses or resumes app's canary.
func (c *Client) CanaryAction(ctx context.Context, app, action string) (CanaryStatus, error) {
	var st CanaryStatus
	err := c.do(ctx, http.MethodPost, appPath(app, "canary", action), nil, &st)
	return st, err
}
