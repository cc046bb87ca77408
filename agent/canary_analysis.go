package agent

import (
	"fmt"
	"math"
	"strconv"

	"github.com/pierhq/pier/api"
)

// The analysis of a canary's step: the canary's and the live release's
// numbers over the same window, taken from the proxy's own counters (the
// ones `pier metrics` reads), judged against the app's thresholds.

// Defaults of api.CanarySettings.
const (
	canaryMinRequests    = 20
	canaryMaxErrorPct    = 1.0
	canaryMaxLatency     = 1.5
	canaryLatencySlack   = 0.05 // seconds added to live's latency before comparing
	canaryMaxFailures    = 1
	canaryMaxFailuresRow = 1
	// canaryP99Requests is the fewest requests whose p99 is compared: the
	// p99 of fewer is their slowest one or two, and one request slowed by
	// a busy host (a pause, a page fault) would abort a good canary.
	canaryP99Requests = 100
)

// thresholds fills t's zero fields with the defaults.
func thresholds(t api.CanarySettings) api.CanarySettings {
	if t.MinRequests <= 0 {
		t.MinRequests = canaryMinRequests
	}
	if t.MaxErrorPct <= 0 {
		t.MaxErrorPct = canaryMaxErrorPct
	}
	if t.MaxLatency <= 0 {
		t.MaxLatency = canaryMaxLatency
	}
	if t.MaxFailures <= 0 {
		t.MaxFailures = canaryMaxFailures
	}
	if t.MaxFailuresRow <= 0 {
		t.MaxFailuresRow = canaryMaxFailuresRow
	}
	return t
}

// countsOf returns one release's cumulative counts in a reading, or zeros.
func countsOf(read map[trafficKey]*trafficCounts, app string, release int) trafficCounts {
	if c := read[trafficKey{app, releaseName(release)}]; c != nil {
		return *c
	}
	return trafficCounts{}
}

// numbersBetween is what release answered between two readings of its
// counters.
func numbersBetween(release int, was, now trafficCounts) api.ReleaseNumbers {
	n := api.ReleaseNumbers{Release: releaseName(release), Requests: now.requests - was.requests, Errors: now.errors - was.errors}
	n.Success = 100
	if n.Requests > 0 {
		n.Success = 100 * (n.Requests - n.Errors) / n.Requests
	}
	d := now.bucketsSince(&was)
	n.P95, n.P99 = quantile(0.95, now.bounds, d), quantile(0.99, now.bounds, d)
	return n
}

// judge decides one check: the canary's numbers against live's (or, when
// live had too few requests in the window, against baseline, the live
// numbers of an earlier check; nil when there is none).
func judge(t api.CanarySettings, canary, live api.ReleaseNumbers, baseline *api.ReleaseNumbers) (verdict, reason string) {
	min := float64(t.MinRequests)
	if canary.Requests < min {
		return api.CheckInconclusive, fmt.Sprintf("%s answered %.0f requests, fewer than the %d a check needs", canary.Release, canary.Requests, t.MinRequests)
	}
	ref := &live
	if live.Requests < min {
		ref = baseline
	}
	liveErr := 0.0
	if ref != nil {
		liveErr = 100 - ref.Success
	}
	if canErr := 100 - canary.Success; canErr > liveErr+t.MaxErrorPct {
		return api.CheckFailed, fmt.Sprintf("%s failed %.0f of %.0f requests (%s%% 5xx), over live's %s%% + %s points",
			canary.Release, canary.Errors, canary.Requests, pct(canErr), pct(liveErr), pct(t.MaxErrorPct))
	}
	if ref == nil {
		return api.CheckPassed, ""
	}
	quantiles := []struct {
		name      string
		can, live float64
	}{{"p95", canary.P95, ref.P95}, {"p99", canary.P99, ref.P99}}
	if canary.Requests < canaryP99Requests {
		quantiles = quantiles[:1]
	}
	for _, q := range quantiles {
		if limit := q.live*t.MaxLatency + canaryLatencySlack; q.can > limit {
			return api.CheckFailed, fmt.Sprintf("%s's %s latency %s is over %s (live's %s × %g + 50 ms)",
				canary.Release, q.name, ms(q.can), ms(limit), ms(q.live), t.MaxLatency)
		}
	}
	return api.CheckPassed, ""
}

func pct(f float64) string { return strconv.FormatFloat(math.Round(f*100)/100, 'f', -1, 64) }

func ms(seconds float64) string {
	return strconv.FormatFloat(math.Round(seconds*1000), 'f', 0, 64) + " ms"
}
