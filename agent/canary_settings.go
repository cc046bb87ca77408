package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// The settings that judge an app's canaries (`pier settings set -a APP
// canary.max-error-pct=0.5`); unset, each takes its default
// (canary_analysis.go).
const settingCanaryPrefix = "canary."

// canarySettingChange validates one canary.* setting and returns the
// function that applies it (v nil: back to the default).
func canarySettingChange(app *api.App, key string, v *string) (func(), error) {
	t := &app.CanarySettings
	whole := func(max int) func(string) (int, error) {
		return func(s string) (int, error) {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > max {
				return 0, fmt.Errorf("a whole number from 1 to %d", max)
			}
			return n, nil
		}
	}
	number := func(lo, hi float64, like string) func(string) (float64, error) {
		return func(s string) (float64, error) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || !(f >= lo && f <= hi) {
				return 0, fmt.Errorf("a number from %g to %g, like %s", lo, hi, like)
			}
			return f, nil
		}
	}
	if key == "canary" {
		on, err := parseSetting(key, v, func(s string) (bool, error) {
			switch s {
			case "on":
				return true, nil
			case "off":
				return false, nil
			}
			return false, fmt.Errorf("on (a push deploys as a canary) or off")
		})
		return func() { t.OnPush = on }, err
	}
	switch strings.TrimPrefix(key, settingCanaryPrefix) {
	case "steps":
		steps, err := parseSetting(key, v, func(s string) ([]int, error) {
			var steps []int
			for _, f := range strings.Split(s, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil {
					return nil, fmt.Errorf("shares in percent separated by commas, like 5,25,50,100")
				}
				steps = append(steps, n)
			}
			if _, _, err := canaryPlan(api.CanaryRequest{Steps: steps}); err != nil {
				return nil, err
			}
			return steps, nil
		})
		return func() { t.Steps = steps }, err
	case "interval":
		d, err := parseSetting(key, v, func(s string) (time.Duration, error) {
			d, err := time.ParseDuration(s)
			if err != nil {
				return 0, fmt.Errorf("a duration like 1m or 30s")
			}
			if _, _, err := canaryPlan(api.CanaryRequest{Interval: api.Duration(d)}); err != nil {
				return 0, err
			}
			return d, nil
		})
		return func() { t.Interval = api.Duration(d) }, err
	case "min-requests":
		n, err := parseSetting(key, v, whole(1_000_000))
		return func() { t.MinRequests = n }, err
	case "max-error-pct":
		f, err := parseSetting(key, v, number(0.01, 100, "0.5"))
		return func() { t.MaxErrorPct = f }, err
	case "max-latency-ratio":
		f, err := parseSetting(key, v, number(1, 100, "1.5"))
		return func() { t.MaxLatency = f }, err
	case "max-failures":
		n, err := parseSetting(key, v, whole(1000))
		return func() { t.MaxFailures = n }, err
	case "max-failures-in-row":
		n, err := parseSetting(key, v, whole(1000))
		return func() { t.MaxFailuresRow = n }, err
	}
	return nil, invalidf("unknown setting %q: the canary's are canary, canary.steps, canary.interval, canary.min-requests, canary.max-error-pct, canary.max-latency-ratio, canary.max-failures and canary.max-failures-in-row", key)
}
