package agent

import (
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestCanaryPlanRefusesBadSteps(t *testing.T) {
	for _, c := range []struct {
		steps []int
		want  string
	}{
		{[]int{5, 25, 50}, "the last step must be 100"},
		{[]int{25, 5, 100}, "larger than the one before"},
		{[]int{5, 5, 100}, "larger than the one before"},
		{[]int{0, 100}, "from 1 to 100"},
		{[]int{50, 150}, "from 1 to 100"},
	} {
		_, _, err := canaryPlan(api.CanaryRequest{Steps: c.steps})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("steps %v: error %v, want one saying %q", c.steps, err, c.want)
		}
	}
	if _, _, err := canaryPlan(api.CanaryRequest{Interval: api.Duration(time.Millisecond)}); err == nil {
		t.Error("an interval of 1ms was taken")
	}
	steps, interval, err := canaryPlan(api.CanaryRequest{})
	if err != nil || stepsString(steps) != "5,25,50,100" || interval != time.Minute {
		t.Errorf("defaults: %v %s %v, want 5,25,50,100 every 1m", steps, interval, err)
	}
}

func TestJudgeCanary(t *testing.T) {
	th := thresholds(api.CanarySettings{})
	live := api.ReleaseNumbers{Release: "v1", Requests: 900, Errors: 0, Success: 100, P95: 0.004, P99: 0.009}
	good := api.ReleaseNumbers{Release: "v2", Requests: 100, Errors: 0, Success: 100, P95: 0.005, P99: 0.01}
	bad := api.ReleaseNumbers{Release: "v2", Requests: 100, Errors: 10, Success: 90, P95: 0.005, P99: 0.01}
	slow := api.ReleaseNumbers{Release: "v2", Requests: 100, Success: 100, P95: 0.4, P99: 0.5}
	few := api.ReleaseNumbers{Release: "v2", Requests: 3, Errors: 3, Success: 0}
	for _, c := range []struct {
		name   string
		canary api.ReleaseNumbers
		want   string
		reason string
	}{
		{"good", good, api.CheckPassed, ""},
		{"10% 5xx", bad, api.CheckFailed, "10 of 100 requests (10% 5xx)"},
		{"slow", slow, api.CheckFailed, "p95 latency 400 ms"},
		{"too few requests", few, api.CheckInconclusive, "fewer than the 20"},
	} {
		v, why := judge(th, c.canary, live, nil)
		if v != c.want || !strings.Contains(why, c.reason) {
			t.Errorf("%s: %s (%s), want %s with %q", c.name, v, why, c.want, c.reason)
		}
	}
	// A p99 of fewer than 100 requests is their slowest: one slow request
	// does not fail a check; of 100 or more, it does.
	outlier := api.ReleaseNumbers{Release: "v2", Requests: 40, Success: 100, P95: 0.005, P99: 0.3}
	if v, why := judge(th, outlier, live, nil); v != api.CheckPassed {
		t.Errorf("one slow request in 40: %s (%s), want passed", v, why)
	}
	outlier.Requests = 400
	if v, why := judge(th, outlier, live, nil); v != api.CheckFailed || !strings.Contains(why, "p99 latency 300 ms") {
		t.Errorf("a slow p99 of 400 requests: %s (%s), want failed on p99", v, why)
	}
	// At 100% live has no requests: the baseline of an earlier check counts.
	idle := api.ReleaseNumbers{Release: "v1"}
	if v, why := judge(th, slow, idle, &live); v != api.CheckFailed {
		t.Errorf("slow against the baseline: %s (%s), want failed", v, why)
	}
	if v, _ := judge(th, good, idle, &live); v != api.CheckPassed {
		t.Errorf("good against the baseline: %s, want passed", v)
	}
}
