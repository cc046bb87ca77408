package agent

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/pierhq/pier/api"
)

// eventWait bounds how long GET .../events?wait= holds a request open.
const eventWait = 25 * time.Second

// getEvents answers GET /v1/apps/{app}/events?after=ID&limit=N&wait=D:
// the app's events after ID, oldest first; with wait, a long poll that
// answers as soon as there is one (what `pier events -f` follows).
func (a *Agent) getEvents(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	return a.answerEvents(w, r, app.Name)
}

// getPlatformEvents answers GET /v1/events: the platform's own events
// (agent.started, agent.upgraded, backups), as getEvents.
func (a *Agent) getPlatformEvents(w http.ResponseWriter, r *http.Request) error {
	return a.answerEvents(w, r, "")
}

func (a *Agent) answerEvents(w http.ResponseWriter, r *http.Request, app string) error {
	q := r.URL.Query()
	var after uint64
	if s := q.Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return invalidf("after=%q: give the id of the last event you have, a whole number", s)
		}
		after = n
	}
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return invalidf("limit=%q: give a whole number of events", s)
		}
		limit = n
	}
	var wait time.Duration
	if s := q.Get("wait"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return invalidf("wait=%q: give a duration such as 25s", s)
		}
		wait = min(d, eventWait)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(a.ctx, cancel)()
	es, err := a.events.since(ctx, app, after, limit, wait)
	if err != nil {
		return err
	}
	if es == nil {
		es = []api.Event{}
	}
	writeJSON(w, http.StatusOK, es)
	return nil
}
