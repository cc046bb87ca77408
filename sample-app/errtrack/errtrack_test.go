package errtrack

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A local stand-in for Sentry's envelope endpoint (Sentry cannot run
// here) checks what a report carries.
func TestReportCarriesTheReleasePierGives(t *testing.T) {
	var got map[string]any
	var path, auth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, auth = r.URL.Path, r.Header.Get("X-Sentry-Auth")
		sc := bufio.NewScanner(r.Body)
		var lines []string
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
		if len(lines) == 3 && strings.Contains(lines[1], `"event"`) {
			_ = json.Unmarshal([]byte(lines[2]), &got)
		}
	}))
	defer srv.Close()
	env := map[string]string{
		"SENTRY_DSN":     strings.Replace(srv.URL, "http://", "http://abc123@", 1) + "/7",
		"SENTRY_RELEASE": "1a2b3c4d", "DYNO": "web.1",
	}
	r, err := New(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Report(context.Background(), errors.New("rendering the page: boom"), map[string]string{"path": "/"}); err != nil {
		t.Fatal(err)
	}
	if path != "/api/7/envelope/" || !strings.Contains(auth, "sentry_key=abc123") {
		t.Errorf("posted to %s with %q", path, auth)
	}
	if got["release"] != "1a2b3c4d" || got["environment"] != "production" || got["server_name"] != "web.1" ||
		!strings.Contains(mustJSON(got["exception"]), "rendering the page: boom") {
		t.Errorf("event %v", got)
	}

	if r, err := New(func(string) string { return "" }); r != nil || err != nil {
		t.Errorf("without SENTRY_DSN: %v, %v; want no reporter", r, err)
	}
	var none *Reporter
	if err := none.Report(context.Background(), errors.New("x"), nil); err != nil {
		t.Errorf("a nil reporter: %v", err)
	}
	if _, err := New(func(k string) string { return map[string]string{"SENTRY_DSN": "not a dsn"}[k] }); err == nil {
		t.Error("a bad SENTRY_DSN was taken")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
