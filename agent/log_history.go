package agent

import (
	"net/url"
	"os"
	"strings"
	"time"
)

// Log history: `pier logs --since --until --grep` search the lines the
// agent keeps: the router's and pier's in the logbook (up to maxLogBytes
// per app, with one rotated file before it), the processes' in the
// scheduler's logs. No line older than the retention (--log-retention, 7
// days by default) is served, and the janitor deletes rotated logbook
// files whose last line is older.

// logHistoryLines bounds how many lines of each source a search reads.
const logHistoryLines = 200000

// logFilter selects lines of a search.
type logFilter struct {
	since, until time.Time
	grep         string
}

// parseLogFilter reads ?since=, ?until= (RFC 3339, or a duration back
// from now such as 1h) and ?grep= (lines containing the text); since is
// never before the retention.
func parseLogFilter(q url.Values, now time.Time, retention time.Duration) (logFilter, bool, error) {
	var f logFilter
	searched := false
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &f.since}, {"until", &f.until}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := parseSince(s, now)
		if err != nil {
			return f, false, invalidf("--%s %s: give a time (RFC 3339, such as 2026-01-02T15:04:05Z) or a duration back from now (such as 1h or 2d)", p.name, s)
		}
		*p.t, searched = t, true
	}
	if !f.since.IsZero() && !f.until.IsZero() && f.until.Before(f.since) {
		return f, false, invalidf("--until is before --since: nothing can match")
	}
	if f.grep = q.Get("grep"); f.grep != "" {
		searched = true
	}
	if retention > 0 {
		if oldest := now.Add(-retention); f.since.Before(oldest) {
			f.since = oldest
		}
	}
	return f, searched, nil
}

// keep reports whether line passes the filter. A line without a time
// passes only when no time bound is set.
func (f logFilter) keep(line string) bool {
	if !f.since.IsZero() || !f.until.IsZero() {
		t := lineTime(line)
		if t.IsZero() || (!f.since.IsZero() && t.Before(f.since)) || (!f.until.IsZero() && t.After(f.until)) {
			return false
		}
	}
	return f.grep == "" || strings.Contains(line, f.grep)
}

// pruneLogHistory deletes rotated logbook files last written before the
// retention.
func (l *logbook) pruneHistory(retention time.Duration, now time.Time) {
	if retention <= 0 {
		return
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log.1") {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > retention {
			_ = os.Remove(l.dir + "/" + e.Name())
		}
	}
}
