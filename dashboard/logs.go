package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// logsPage shows an app's recent log lines, filtered by process and a
// search, from a time on: the history the agent keeps.
type logsPage struct {
	App     string
	Process string
	Grep    string
	Since   string // as typed: "15m", "2h", or an RFC 3339 time
	Lines   int
	Live    bool // refresh every few seconds
	Text    string
}

func (p logsPage) title() string { return p.App + " logs" }

const (
	defaultLogLines = 200
	maxLogLines     = 5000
)

func (d *Dashboard) getLogs(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	q := r.URL.Query()
	p := logsPage{App: app, Process: q.Get("process"), Grep: q.Get("grep"), Since: strings.TrimSpace(q.Get("since")), Lines: defaultLogLines, Live: q.Get("live") == "1"}
	if n, err := strconv.Atoi(q.Get("n")); err == nil && n > 0 {
		p.Lines = min(n, maxLogLines)
	}
	api := url.Values{"n": {strconv.Itoa(p.Lines)}}
	if p.Process != "" {
		api.Set("process", p.Process)
	}
	if p.Grep != "" {
		api.Set("grep", p.Grep)
	}
	if p.Since != "" {
		since, err := parseSince(p.Since, time.Now())
		if err != nil {
			d.renderError(w, r, s, http.StatusBadRequest, err.Error())
			return
		}
		api.Set("since", since.UTC().Format(time.RFC3339Nano))
	}
	text, err := d.apiGetText(r.Context(), s, "/v1/apps/"+url.PathEscape(app)+"/logs", api)
	if err != nil {
		d.apiError(w, r, s, err)
		return
	}
	p.Text = text
	d.render(w, r, http.StatusOK, "logs", s, p)
}

// parseSince reads a duration back from now ("15m") or a time (RFC 3339).
func parseSince(v string, now time.Time) (time.Time, error) {
	if dur, err := time.ParseDuration(v); err == nil && dur > 0 {
		return now.Add(-dur), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	return time.Time{}, &sinceError{v}
}

type sinceError struct{ v string }

func (e *sinceError) Error() string {
	return "since=" + strconv.Quote(e.v) + " is neither a duration (15m, 2h) nor a time (2026-01-02T15:04:05Z)"
}
