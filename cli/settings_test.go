package cli

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestSettingsList(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps/hello", api.App{Name: "hello", RateLimitRPS: 2.5, WatchWindow: api.Duration(45 * time.Second),
		Headers: map[string]string{"X-Frame-Options": "", "Content-Security-Policy": "default-src 'self'"}})
	out, _ := mustPier(t, "settings", "-a", "hello")
	want := []string{
		"KEY                              VALUE",
		"rate-limit                       2.5",
		"rate-burst                       (default)",
		"standby-window                   (default)",
		"watch-window                     45s",
		"header.Content-Security-Policy   default-src 'self'",
		"header.X-Frame-Options           (removed)",
	}
	if got := strings.Split(strings.TrimSpace(out), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("settings printed:\n%s\nwant:\n%s", out, strings.Join(want, "\n"))
	}
	out, _ = mustPier(t, "settings", "-a", "hello", "--json")
	var m map[string]string
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("--json printed %q: %v", out, err)
	}
	if len(m) != 4 || m["rate-limit"] != "2.5" || m["watch-window"] != "45s" || m["header.X-Frame-Options"] != "" {
		t.Errorf("--json printed %v", m)
	}
}

func TestSettingsSetUnset(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("PATCH /v1/apps/hello/settings", api.App{Name: "hello", RateLimitRPS: 20})
	for _, args := range [][]string{{"set"}, {"set", "rate-limit"}, {"set", "ratelimit=3"}, {"set", "header.=x"}, {"unset"}, {"unset", "nope"}} {
		cmd := append([]string{"settings", args[0], "-a", "hello"}, args[1:]...)
		if _, errOut, err := pier(t, cmd...); err == nil {
			t.Errorf("settings %v: no error (stderr %q)", args, errOut)
		}
	}
	if rs := fa.requests(); len(rs) != 0 {
		t.Fatalf("bad settings reached the agent: %+v", rs)
	}

	out, errOut := mustPier(t, "settings", "set", "-a", "hello", "rate-limit=20", "header.X-Frame-Options=")
	if !strings.Contains(errOut, "Changed the settings of hello") || !strings.Contains(out, "rate-limit") {
		t.Errorf("settings set printed %q / %q", out, errOut)
	}
	var body api.SettingsRequest
	if err := json.Unmarshal(fa.only(t).Body, &body); err != nil {
		t.Fatal(err)
	}
	if v := body.Settings["rate-limit"]; v == nil || *v != "20" {
		t.Errorf("rate-limit sent as %v", v)
	}
	if v, ok := body.Settings["header.X-Frame-Options"]; !ok || v == nil || *v != "" {
		t.Errorf("an empty header value must be sent as \"\" (delete the header), sent %v", v)
	}

	fa2 := newFakeAgent(t)
	fa2.handle("PATCH /v1/apps/hello/settings", api.App{Name: "hello"})
	mustPier(t, "settings", "unset", "-a", "hello", "rate-limit", "header.X-Frame-Options")
	raw := string(fa2.only(t).Body)
	if !strings.Contains(raw, `"rate-limit":null`) || !strings.Contains(raw, `"header.X-Frame-Options":null`) {
		t.Errorf("settings unset sent %s, want null values", raw)
	}
}

func TestSettingsAgentRefusal(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handleFunc("PATCH /v1/apps/hello/settings", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(api.Error{Message: `rate-limit="-1": want a number`})
	})
	_, _, err := pier(t, "settings", "set", "-a", "hello", "rate-limit=-1")
	if err == nil || !strings.Contains(err.Error(), "want a number") {
		t.Errorf("a refused value: err %v", err)
	}
}
