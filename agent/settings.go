package agent

import (
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// App settings tune how the proxy and the deployer treat one app. Unlike
// config vars they make no release (like Heroku's features): a change
// reaches the route table at once.
const (
	settingRateLimit     = "rate-limit"     // requests per second per client IP, 0 = off
	settingRateBurst     = "rate-burst"     // bucket size, 0 = one second's worth
	settingStandbyWindow = "standby-window" // how long the previous release stays warm
	settingWatchWindow   = "watch-window"   // how long a new release is watched
	settingHeaderPrefix  = "header."        // header.NAME: response header override
)

// Bounds of the settings' values.
const (
	maxRateLimit       = 1e6
	maxRateBurst       = 1_000_000
	maxWindow          = 7 * 24 * time.Hour
	maxHeaderValue     = 4096
	maxHeaderOverrides = 50
)

// reservedHeaders frame or route the exchange; an app cannot override them.
var reservedHeaders = []string{
	"Connection", "Content-Length", "Keep-Alive", "Proxy-Connection", "Te",
	"Trailer", "Transfer-Encoding", "Upgrade", "X-Request-Id", "Date",
}

func (a *Agent) patchSettings(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.SettingsRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Settings) == 0 {
		return invalidf("no settings given: pier settings set -a %s rate-limit=20", app.Name)
	}
	var changed []string
	updated, err := a.store.UpdateApp(app.Name, func(x *api.App) error {
		next := *x
		next.Headers = maps.Clone(x.Headers)
		var err error
		if changed, err = applySettings(&next, req.Settings); err != nil {
			return err
		}
		*x = next
		return nil
	})
	if err != nil {
		return err
	}
	a.refreshRoutes()
	a.events.addData(app.Name, api.EventSettingsChanged, userOf(r), api.EventData{"keys": strings.Join(changed, ",")}, "Changed settings %s", strings.Join(changed, ", "))
	writeJSON(w, http.StatusOK, a.present(updated))
	return nil
}

// applySettings checks every change first and then applies them all to
// app, so a bad key or value changes nothing. It returns the changes as
// "key=value" or "key unset", sorted.
func applySettings(app *api.App, settings map[string]*string) ([]string, error) {
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var apply []func()
	var changed []string
	for _, k := range keys {
		v := settings[k]
		fn, err := settingChange(app, k, v)
		if err != nil {
			return nil, err
		}
		apply = append(apply, fn)
		if v == nil {
			changed = append(changed, k+" unset")
		} else {
			changed = append(changed, k+"="+*v)
		}
	}
	for _, fn := range apply {
		fn()
	}
	if len(app.Headers) > maxHeaderOverrides {
		return nil, invalidf("at most %d header overrides per app", maxHeaderOverrides)
	}
	if len(app.Headers) == 0 {
		app.Headers = nil
	}
	return changed, nil
}

// settingChange validates one setting and returns the function that
// applies it (v nil: back to the default).
func settingChange(app *api.App, key string, v *string) (func(), error) {
	switch key {
	case settingRateLimit:
		n, err := parseSetting(key, v, func(s string) (float64, error) {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(f) || f < 0 || f > maxRateLimit {
				return 0, fmt.Errorf("a number of requests per second from 0 (off) to %g, like 20 or 0.5", float64(maxRateLimit))
			}
			return f, nil
		})
		return func() { app.RateLimitRPS = n }, err
	case settingRateBurst:
		n, err := parseSetting(key, v, func(s string) (int, error) {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > maxRateBurst {
				return 0, fmt.Errorf("a whole number of requests from 0 (one second's worth) to %d", maxRateBurst)
			}
			return n, nil
		})
		return func() { app.RateLimitBurst = n }, err
	case settingStandbyWindow, settingWatchWindow:
		d, err := parseSetting(key, v, parseWindow)
		if key == settingStandbyWindow {
			return func() { app.StandbyWindow = api.Duration(d) }, err
		}
		return func() { app.WatchWindow = api.Duration(d) }, err
	}
	if key == "canary" || strings.HasPrefix(key, settingCanaryPrefix) {
		return canarySettingChange(app, key, v)
	}
	name, ok := strings.CutPrefix(key, settingHeaderPrefix)
	if !ok {
		return nil, invalidf("unknown setting %q: use rate-limit, rate-burst, standby-window, watch-window, canary.* or header.NAME", key)
	}
	name, err := checkHeaderSetting(name, v)
	if err != nil {
		return nil, err
	}
	return func() {
		if v == nil {
			delete(app.Headers, name)
			return
		}
		if app.Headers == nil {
			app.Headers = map[string]string{}
		}
		app.Headers[name] = *v
	}, nil
}

// parseSetting parses v with parse; nil is the zero value (the default).
func parseSetting[T any](key string, v *string, parse func(string) (T, error)) (T, error) {
	var zero T
	if v == nil {
		return zero, nil
	}
	n, err := parse(strings.TrimSpace(*v))
	if err != nil {
		return zero, invalidf("%s=%q: want %v", key, *v, err)
	}
	return n, nil
}

func parseWindow(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > maxWindow {
		return 0, fmt.Errorf("a duration from 1s to %s, like 15m or 30s (unset it for the agent's default)", "168h")
	}
	return d, nil
}

// checkHeaderSetting validates a header.NAME setting and returns NAME in
// canonical form.
func checkHeaderSetting(name string, v *string) (string, error) {
	if name == "" || !validHeaderName(name) {
		return "", invalidf("header.%s: %q is not a valid header name (letters, digits and -)", name, name)
	}
	name = http.CanonicalHeaderKey(name)
	if slices.Contains(reservedHeaders, name) {
		return "", invalidf("header.%s: the proxy sets %s itself; it cannot be overridden", name, name)
	}
	if v == nil {
		return name, nil
	}
	if len(*v) > maxHeaderValue {
		return "", invalidf("header.%s: the value is longer than %d bytes", name, maxHeaderValue)
	}
	for i := 0; i < len(*v); i++ {
		if c := (*v)[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", invalidf("header.%s: the value holds a control character (newline?); give it on one line", name)
		}
	}
	return name, nil
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
