package agent

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// The audit log records every change made through the API, git or SSH:
// who (the token's or key's name, id and role), what (the route's pattern,
// its app and target), how it ended (the status), from where and when. It
// holds no secret: no config value, no token secret, no request body.

// auditRecorder captures the status of one change and records it when the
// request ends.
type auditRecorder struct {
	http.ResponseWriter
	a     *Agent
	req   *http.Request
	entry api.AuditEntry
}

type auditKey struct{}

// startAudit begins the audit entry of a change by p through route pattern.
func (a *Agent) startAudit(w http.ResponseWriter, r *http.Request, p *principal, pattern, ip string) *auditRecorder {
	rec := &auditRecorder{ResponseWriter: w, a: a, entry: api.AuditEntry{
		Time: time.Now().UTC(), Who: p.name, Via: p.via, ID: p.id, Role: p.Role,
		Action: pattern, App: r.PathValue("app"), Target: pathTarget(r), ClientIP: ip,
	}}
	rec.req = r.WithContext(context.WithValue(r.Context(), auditKey{}, rec))
	return rec
}

// pathTarget is what a route names besides its app.
func pathTarget(r *http.Request) string {
	for _, k := range []string{"id", "fp", "host"} {
		if v := r.PathValue(k); v != "" {
			return v
		}
	}
	return ""
}

// auditNote sets the app or target of the request's audit entry when the
// route's path does not name them (a new app, a new token); "" keeps what
// is there.
func auditNote(r *http.Request, app, target string) {
	rec, _ := r.Context().Value(auditKey{}).(*auditRecorder)
	if rec == nil {
		return
	}
	if app != "" {
		rec.entry.App = app
	}
	if target != "" {
		rec.entry.Target = target
	}
}

func (rec *auditRecorder) WriteHeader(code int) {
	if rec.entry.Status == 0 {
		rec.entry.Status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *auditRecorder) Write(p []byte) (int, error) {
	if rec.entry.Status == 0 {
		rec.entry.Status = http.StatusOK
	}
	return rec.ResponseWriter.Write(p)
}

func (rec *auditRecorder) Flush() {
	if f, ok := rec.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (rec *auditRecorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// finish records the entry.
func (rec *auditRecorder) finish() {
	if rec.entry.Status == 0 {
		rec.entry.Status = http.StatusOK
	}
	rec.a.audit(rec.entry)
}

// audit appends e to the audit log; a failure is logged, never the
// caller's.
func (a *Agent) audit(e api.AuditEntry) {
	if err := a.store.AppendAudit(e); err != nil {
		a.logf("audit: recording %s by %s: %v", e.Action, e.Who, err)
	}
}

// getAudit lists the audit log: ?app=, ?since= (RFC 3339 or a duration
// back from now), ?limit=.
func (a *Agent) getAudit(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := store.AuditFilter{App: q.Get("app")}
	if s := q.Get("since"); s != "" {
		t, err := parseSince(s, time.Now())
		if err != nil {
			return invalidf("since=%q: give a time (RFC 3339) or a duration such as 1h", s)
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return invalidf("limit=%q: give a whole number", s)
		}
		f.Limit = n
	}
	es, err := a.store.Audit(f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, es)
	return nil
}

// parseSince reads a time (RFC 3339) or a duration back from now ("1h",
// "2d").
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := api.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(-d), nil
}

// platformEvent records what the agent did by itself (via "schedule") in
// the audit log: `pier audit` shows it. status is 0 for success, 1 for a
// failure, whose detail says why.
func (a *Agent) platformEvent(action, target string, status int, detail string) {
	e := api.AuditEntry{Time: time.Now().UTC(), Who: "pier", Via: "schedule", Action: action, Target: target, Status: status, Detail: detail}
	if err := a.store.AppendAudit(e); err != nil {
		a.logf("recording %q in the audit log: %v", action, err)
	}
}
