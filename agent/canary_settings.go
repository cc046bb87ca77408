package agent

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pierhq/pier/api"
)

// The settings that judge an app's canaries (`pier settings set -a APP
// canary.max-error-pct=0.5`); unset, each takes its default
// (canary_analysis.go).
const settingCanaryPrefix = "canary."

// canarySettingChange validates one canary.* setting and returns the
// function that applies it (v nil: back to the default).
func canarySettingChange(app *api.App, key string, v *string) (func(), error) {
	t := &app.CanaryThresholds
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
	switch strings.TrimPrefix(key, settingCanaryPrefix) {
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
	return nil, invalidf("unknown setting %q: the canary's are canary.min-requests, canary.max-error-pct, canary.max-latency-ratio, canary.max-failures and canary.max-failures-in-row", key)
}
