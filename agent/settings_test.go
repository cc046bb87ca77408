package agent

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func sp(s string) *string { return &s }

func TestApplySettings(t *testing.T) {
	app := api.App{Name: "hello", Headers: map[string]string{"X-Frame-Options": "DENY"}}
	changed, err := applySettings(&app, map[string]*string{
		"rate-limit": sp("20"), "rate-burst": sp("40"), "standby-window": sp("5m"), "watch-window": sp(" 45s "),
		"header.x-frame-options": nil, "header.Referrer-Policy": sp(""), "header.Content-Security-Policy": sp("default-src 'self'"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := api.App{Name: "hello", RateLimitRPS: 20, RateLimitBurst: 40, StandbyWindow: api.Duration(5 * time.Minute),
		WatchWindow: api.Duration(45 * time.Second), Headers: map[string]string{"Referrer-Policy": "", "Content-Security-Policy": "default-src 'self'"}}
	if !reflect.DeepEqual(app, want) {
		t.Errorf("app = %+v\nwant %+v", app, want)
	}
	if got := strings.Join(changed, "; "); !strings.Contains(got, "rate-limit=20") || !strings.Contains(got, "header.x-frame-options unset") {
		t.Errorf("changed = %q", got)
	}
	if _, err := applySettings(&app, map[string]*string{"rate-limit": nil, "header.Referrer-Policy": nil, "header.Content-Security-Policy": nil}); err != nil {
		t.Fatal(err)
	}
	if app.RateLimitRPS != 0 || app.Headers != nil {
		t.Errorf("after unset: %+v", app)
	}
}

func TestApplySettingsRefusesBadInput(t *testing.T) {
	for _, tt := range []struct{ key, val, want string }{
		{"rate-limit", "-1", "requests per second"},
		{"rate-limit", "NaN", "requests per second"},
		{"rate-limit", "fast", "requests per second"},
		{"rate-burst", "1.5", "whole number"},
		{"standby-window", "0s", "duration"},
		{"watch-window", "soon", "duration"},
		{"ratelimit", "3", "unknown setting"},
		{"header.", "x", "not a valid header name"},
		{"header.X Y", "x", "not a valid header name"},
		{"header.Content-Length", "1", "cannot be overridden"},
		{"header.X-Evil", "a\r\nSet-Cookie: x", "control character"},
	} {
		app := api.App{Name: "hello", RateLimitRPS: 5}
		before := app
		_, err := applySettings(&app, map[string]*string{tt.key: sp(tt.val), "header.X-Ok": sp("1")})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s=%q: err %v, want it to mention %q", tt.key, tt.val, err, tt.want)
		}
		if statusOf(err) != 400 {
			t.Errorf("%s=%q: status %d, want 400", tt.key, tt.val, statusOf(err))
		}
		if !reflect.DeepEqual(app, before) {
			t.Errorf("%s=%q changed the app to %+v", tt.key, tt.val, app)
		}
	}
}
