package agent

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy"
)

// routeWait bounds how long GET /v1/routes waits for a change.
const routeWait = 25 * time.Second

// getRoutes answers GET /v1/routes?after=VERSION, the watch that edges in
// other processes (`pier proxy`) follow: the route table once its version
// is newer than after, or as it is when routeWait passes first or the
// agent stops.
func (a *Agent) getRoutes(w http.ResponseWriter, r *http.Request) error {
	after := uint64(0)
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return invalidf("after=%q: give the version of the routes you have, a whole number", s)
		}
		after = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), routeWait)
	defer cancel()
	defer context.AfterFunc(a.table.watches, cancel)()
	set, err := a.table.board.Watch(ctx, after)
	if err != nil {
		if r.Context().Err() != nil {
			return nil // the edge went away
		}
		set = a.table.board.Latest()
	}
	writeJSON(w, http.StatusOK, routeSetToAPI(set))
	return nil
}

func routeSetToAPI(set proxy.RouteSet) api.RouteSet {
	out := api.RouteSet{Version: set.Version, Routes: make([]api.Route, 0, len(set.Routes))}
	for _, d := range set.Routes {
		r := api.Route{
			App: d.App, Hosts: d.Hosts, Maintenance: d.Maintenance,
			RateLimitRPS: d.RateLimit.RPS, RateLimitBurst: d.RateLimit.Burst, Headers: d.Headers,
			Health:   api.RouteHealth{Path: d.Health.Path, Content: d.Health.Content, Timeout: api.Duration(d.Health.Timeout)},
			LiveSlot: d.LiveSlot,
		}
		for _, c := range d.Instances {
			r.Instances = append(r.Instances, api.RouteInstance{ID: c.ID, Addr: c.Addr, Name: c.Name, Slot: c.Slot, Release: c.Release, Draining: c.Draining})
		}
		out.Routes = append(out.Routes, r)
	}
	return out
}
