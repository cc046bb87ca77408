package agent

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/scheduler"
)

// instanceKey names one incarnation of an instance: a restart on the same
// address is a new incarnation that must pass its health check again.
func instanceKey(in scheduler.Instance) string {
	return in.App + "/" + in.Slot + "/" + in.Name() + "/" + in.Addr + "/" + strconv.Itoa(in.PID) + "/" + strconv.FormatInt(in.StartedAt.UnixNano(), 10)
}

func (a *Agent) markVetted(in scheduler.Instance) {
	a.mu.Lock()
	a.vetted[instanceKey(in)] = true
	a.mu.Unlock()
}

func (a *Agent) setDraining(in scheduler.Instance, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if on {
		a.draining[instanceKey(in)] = true
	} else {
		delete(a.draining, instanceKey(in))
	}
}

// refreshRoutes rebuilds the proxy's route table from the store and what the
// scheduler runs, and swaps it in one step. Only health-checked instances of
// each app's live slot are routed; unchecked ones are checked in the
// background and join when they pass.
func (a *Agent) refreshRoutes() {
	a.routeMu.Lock()
	defer a.routeMu.Unlock()
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	apps, err := a.store.ListApps()
	if err != nil {
		a.logf("building routes: %v", err)
		return
	}
	domains, _ := a.store.AllDomains()
	hostsOf := map[string][]string{}
	for _, d := range domains {
		hostsOf[d.App] = append(hostsOf[d.App], strings.ToLower(d.Host))
	}
	routes := make([]proxy.Route, 0, len(apps))
	seen := map[string]bool{}
	for _, app := range apps {
		r := proxy.Route{
			App:         app.Name,
			Hosts:       append([]string{a.cfg.appHost(app.Name)}, hostsOf[app.Name]...),
			Maintenance: app.Maintenance,
			RateLimit:   proxy.RateLimit{RPS: app.RateLimitRPS, Burst: app.RateLimitBurst},
			Headers:     app.Headers,
		}
		if app.LiveRelease != 0 {
			r.Health, _ = webCheck(readAppJSON(a.liveSlug(app)))
			r.Upstreams = a.upstreams(ctx, app, seen)
		}
		routes = append(routes, r)
	}
	a.proxy.SetRoutes(routes)
	a.mu.Lock()
	for k := range a.vetted {
		if !seen[k] {
			delete(a.vetted, k)
		}
	}
	a.mu.Unlock()
}

func (a *Agent) upstreams(ctx context.Context, app api.App, seen map[string]bool) []proxy.Upstream {
	insts, err := a.sched.Instances(ctx, app.Name)
	if err != nil {
		a.logf("listing instances of %s: %v", app.Name, err)
		return nil
	}
	var ups []proxy.Upstream
	for _, in := range insts {
		if in.Type != "web" || in.Addr == "" || in.State != api.StateUp {
			continue
		}
		k := instanceKey(in)
		// The standby's instances stay vetted too: a rollback may switch
		// back to them at any moment, and must find them routable.
		seen[k] = true
		if in.Slot != app.LiveSlot {
			continue
		}
		a.mu.Lock()
		ok, draining := a.vetted[k], a.draining[k]
		a.mu.Unlock()
		if draining {
			continue
		}
		if !ok {
			a.vetLater(app, in)
			continue
		}
		ups = append(ups, proxy.Upstream{Addr: in.Addr, Name: in.Name(), Slot: in.Slot, Release: in.Release})
	}
	return ups
}

// vetLater health-checks an instance that is up but not yet routed (a
// restarted crash, a scaled-up one) and refreshes the routes when it passes.
func (a *Agent) vetLater(app api.App, in scheduler.Instance) {
	k := instanceKey(in)
	a.mu.Lock()
	if a.vetting[k] {
		a.mu.Unlock()
		return
	}
	a.vetting[k] = true
	a.mu.Unlock()
	hc, _ := webCheck(readAppJSON(a.liveSlug(app)))
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer func() {
			a.mu.Lock()
			delete(a.vetting, k)
			a.mu.Unlock()
		}()
		ctx, cancel := context.WithTimeout(a.ctx, 60*time.Second)
		defer cancel()
		for ctx.Err() == nil {
			cctx, ccancel := context.WithTimeout(ctx, hc.Timeout)
			err := proxy.CheckHealth(cctx, in.Addr, hc)
			ccancel()
			if err == nil {
				a.markVetted(in)
				a.kickRoutes()
				return
			}
			if sleep(ctx, 250*time.Millisecond) != nil {
				return
			}
		}
	}()
}

// kickRoutes asks the route loop for a refresh without waiting for it.
func (a *Agent) kickRoutes() {
	select {
	case a.routeKick <- struct{}{}:
	default:
	}
}

// routeLoop refreshes routes when kicked (the scheduler saw a change) and
// every few seconds as a safety net.
func (a *Agent) routeLoop() {
	defer a.wg.Done()
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return
		case <-a.routeKick:
		case <-t.C:
		}
		a.refreshRoutes()
	}
}
