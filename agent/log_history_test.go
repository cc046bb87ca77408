package agent

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLogFilter(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	line := func(at time.Time, text string) string {
		return at.Format(logTimeFormat) + " app[web.1]: " + text
	}
	old, recent := line(now.Add(-3*time.Hour), "old needle"), line(now.Add(-10*time.Minute), "recent needle")
	tests := []struct {
		q         string
		keep      []string
		drop      []string
		retention time.Duration
	}{
		{q: "since=1h", keep: []string{recent}, drop: []string{old, "no time at all"}},
		{q: "until=1h", keep: []string{old}, drop: []string{recent}},
		{q: "grep=recent", keep: []string{recent}, drop: []string{old}},
		{q: "since=2026-12-07T09:00:00Z&grep=needle", keep: []string{old, recent}},
		{q: "grep=needle", retention: time.Hour, keep: []string{recent}, drop: []string{old}},
	}
	for _, tt := range tests {
		q, _ := url.ParseQuery(tt.q)
		f, searched, err := parseLogFilter(q, now, tt.retention)
		if err != nil || !searched {
			t.Fatalf("%s: %v, searched %v", tt.q, err, searched)
		}
		for _, l := range tt.keep {
			if !f.keep(l) {
				t.Errorf("%s drops %q", tt.q, l)
			}
		}
		for _, l := range tt.drop {
			if f.keep(l) {
				t.Errorf("%s keeps %q", tt.q, l)
			}
		}
	}
	for _, bad := range []string{"since=yesterday", "until=1h&since=30m"} {
		q, _ := url.ParseQuery(bad)
		if _, _, err := parseLogFilter(q, now, 0); err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("%s: %v, want an error naming the flag", bad, err)
		}
	}
}
