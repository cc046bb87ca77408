package agent

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// readyTimeout bounds the wait for a remote scheduler's answer on /readyz.
const readyTimeout = 2 * time.Second

// getReady answers /readyz: 200 when the store is open, the scheduler
// answers and the edge has loaded the routes, 503 naming what is not. It
// needs no token and reads nothing of the apps, so a load balancer or a
// supervisor may ask it often.
func (a *Agent) getReady(w http.ResponseWriter, r *http.Request) {
	checks := a.readiness(r.Context())
	var b strings.Builder
	ready := true
	for _, c := range checks {
		if c.err != nil {
			ready = false
			fmt.Fprintf(&b, "%s: %v\n", c.name, c.err)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.name)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(b.String()))
}

type readyCheck struct {
	name string
	err  error
}

// readiness checks the store, the scheduler and the routes.
func (a *Agent) readiness(ctx context.Context) []readyCheck {
	out := []readyCheck{{name: "store", err: a.store.Ping()}}
	var sched error
	s := a.sched
	if w, ok := s.(*swapScheduler); ok {
		s = w.get()
	}
	if p, ok := s.(scheduler.Pinger); ok {
		ctx, cancel := context.WithTimeout(ctx, readyTimeout)
		sched = p.Ping(ctx)
		cancel()
	}
	out = append(out, readyCheck{name: "scheduler", err: sched})
	var routes error
	if !a.table.board.Loaded() {
		routes = fmt.Errorf("not loaded yet")
	}
	return append(out, readyCheck{name: "routes", err: routes})
}
