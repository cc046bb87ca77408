package agent

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/scheduler"
)

// routeTable publishes the desired routes for the edge to follow: every
// app's hosts and settings from the store, its live slot, and the web
// instances the scheduler runs. Which instances are fit to serve is the
// edge's to decide: it routes an instance of the live slot once it has
// passed its health check (proxy/vetting.go).
type routeTable struct {
	cfg   Config
	dirs  dirs
	store *store.Store
	// instances lists what runs of an app (the agent's scheduler, which a
	// failed handover may replace).
	instances func(ctx context.Context, app string) ([]scheduler.Instance, error)
	board     *proxy.RouteBoard
	logf      func(format string, args ...any)
	ctx       context.Context // the agent's lifetime

	mu   sync.Mutex // serializes refreshes
	kick chan struct{}
	// switches times each refresh: building every app's routes until the
	// edge serves them (a rollback's switch of slots is one).
	switches prometheus.Histogram

	drainMu  sync.Mutex
	draining map[string]bool // IDs of instances being stopped

	// watches ends the API's long polls of the routes (routes_api.go)
	// when the agent stops, so they do not hold its shutdown.
	watches    context.Context
	endWatches context.CancelFunc
}

func newRouteTable(a *Agent) *routeTable {
	watches, endWatches := context.WithCancel(context.Background())
	return &routeTable{
		watches: watches, endWatches: endWatches,
		cfg: a.cfg, dirs: a.dirs, store: a.store, logf: a.logf, ctx: a.ctx,
		instances: func(ctx context.Context, app string) ([]scheduler.Instance, error) {
			return a.sched.Instances(ctx, app)
		},
		board: proxy.NewRouteBoard(),
		switches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "pier_route_switch_seconds",
			Help:    "Time to build every app's routes and have the proxy serve them, at each change (a deploy's or rollback's switch of slots is one).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, 1},
		}),
		kick:     make(chan struct{}, 1),
		draining: map[string]bool{},
	}
}

// instanceKey names one incarnation of an instance: a restart on the same
// address is a new incarnation that must pass its health check again.
func instanceKey(in scheduler.Instance) string {
	return in.App + "/" + in.Slot + "/" + in.Name() + "/" + in.Addr + "/" + strconv.Itoa(in.PID) + "/" + strconv.FormatInt(in.StartedAt.UnixNano(), 10)
}

// candidateOf is the edge's view of a running web instance.
func candidateOf(in scheduler.Instance) proxy.Candidate {
	return proxy.Candidate{
		Upstream: proxy.Upstream{Addr: in.Addr, Name: in.Name(), Slot: in.Slot, Release: in.Release},
		ID:       instanceKey(in),
	}
}

// setDraining takes an instance about to stop out of rotation, or ends that.
func (rt *routeTable) setDraining(in scheduler.Instance, on bool) {
	rt.drainMu.Lock()
	defer rt.drainMu.Unlock()
	if on {
		rt.draining[instanceKey(in)] = true
	} else {
		delete(rt.draining, instanceKey(in))
	}
}

func (rt *routeTable) isDraining(id string) bool {
	rt.drainMu.Lock()
	defer rt.drainMu.Unlock()
	return rt.draining[id]
}

// refreshRoutes publishes the routes as the store and the scheduler have
// them now, and returns once the edge in this process serves them: a
// switch is done when it returns.
func (rt *routeTable) refreshRoutes() {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	start := time.Now()
	defer func() { rt.switches.Observe(time.Since(start).Seconds()) }()
	ctx, cancel := context.WithTimeout(rt.ctx, 10*time.Second)
	defer cancel()
	routes, err := rt.build(ctx)
	if err != nil {
		rt.logf("building routes: %v", err)
		return
	}
	v := rt.board.Publish(routes)
	if err := rt.board.Applied(ctx, v); err != nil && rt.ctx.Err() == nil {
		rt.logf("the proxy did not take the new routes: %v", err)
	}
}

func (rt *routeTable) build(ctx context.Context) ([]proxy.DesiredRoute, error) {
	apps, err := rt.store.ListApps()
	if err != nil {
		return nil, err
	}
	domains, _ := rt.store.AllDomains()
	hostsOf := map[string][]string{}
	for _, d := range domains {
		hostsOf[d.App] = append(hostsOf[d.App], strings.ToLower(d.Host))
	}
	routes := make([]proxy.DesiredRoute, 0, len(apps))
	for _, app := range apps {
		d := proxy.DesiredRoute{
			Route: proxy.Route{
				App:         app.Name,
				Hosts:       append([]string{rt.cfg.appHost(app.Name)}, hostsOf[app.Name]...),
				Maintenance: app.Maintenance,
				RateLimit:   proxy.RateLimit{RPS: app.RateLimitRPS, Burst: app.RateLimitBurst},
				Headers:     app.Headers,
			},
			LiveSlot: app.LiveSlot,
		}
		if c := app.Canary; c != nil {
			d.Split = proxy.Split{Slot: c.Slot, Release: c.Release, Weight: c.Weight()}
		}
		if app.LiveRelease != 0 {
			d.Health, _ = webCheck(readAppJSON(liveSlug(rt.store, rt.dirs, app)))
			d.Instances = rt.candidates(ctx, app.Name)
		}
		routes = append(routes, d)
	}
	return routes, nil
}

// candidates are the web instances of app that are up, in every slot: the
// edge keeps the checks that the idle slot's passed for its switch.
func (rt *routeTable) candidates(ctx context.Context, app string) []proxy.Candidate {
	insts, err := rt.instances(ctx, app)
	if err != nil {
		rt.logf("listing instances of %s: %v", app, err)
		return nil
	}
	var out []proxy.Candidate
	for _, in := range insts {
		if in.Type != "web" || in.Addr == "" || in.State != api.StateUp {
			continue
		}
		c := candidateOf(in)
		c.Draining = rt.isDraining(c.ID)
		out = append(out, c)
	}
	return out
}

// kickRoutes asks the route loop for a refresh without waiting for it.
func (rt *routeTable) kickRoutes() {
	select {
	case rt.kick <- struct{}{}:
	default:
	}
}

// run refreshes the routes when kicked (the scheduler saw a change) and
// every few seconds as a safety net, until the agent stops.
func (rt *routeTable) run() {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-rt.ctx.Done():
			return
		case <-rt.kick:
		case <-t.C:
		}
		rt.refreshRoutes()
	}
}

func (a *Agent) refreshRoutes() { a.table.refreshRoutes() }

func (a *Agent) kickRoutes() { a.table.kickRoutes() }
