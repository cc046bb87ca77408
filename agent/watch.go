package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/scheduler"
)

// Thresholds of the watch window: a new release whose web processes crash,
// or that answers at least watchMinRequests with more than watchMaxErrorPct
// percent 5xx, is rolled back to the standby.
const (
	watchMinRequests = 10
	watchMaxErrorPct = 20
	watchTick        = 250 * time.Millisecond
)

type watch struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startWatch watches rel, just switched live in slot, for the watch window.
func (a *Agent) startWatch(app api.App, rel api.Release, slot string) {
	window := a.cfg.WatchWindow
	if app.WatchWindow > 0 {
		window = time.Duration(app.WatchWindow)
	}
	if window <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(a.ctx, window)
	w := &watch{cancel: cancel, done: make(chan struct{})}
	a.mu.Lock()
	a.watches[app.Name] = w
	a.mu.Unlock()
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(w.done)
		defer cancel()
		a.watchRelease(ctx, rel, slot)
		a.mu.Lock()
		if a.watches[app.Name] == w {
			delete(a.watches, app.Name)
		}
		a.mu.Unlock()
	}()
}

// stopWatch ends the watch of app, if any, and waits for it: the operation
// that stops it takes the release as good.
func (a *Agent) stopWatch(app string) {
	a.mu.Lock()
	w := a.watches[app]
	a.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

func (a *Agent) watchRelease(ctx context.Context, rel api.Release, slot string) {
	base := a.proxy.Stats(rel.App)[slot]
	restarts := map[string]int{}
	if insts, err := a.slotInstances(ctx, rel.App, slot, rel.Version); err == nil {
		for _, in := range insts {
			restarts[in.Name()] = in.Restarts
		}
	}
	t := time.NewTicker(watchTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		insts, err := a.slotInstances(ctx, rel.App, slot, rel.Version)
		if err != nil {
			continue
		}
		if why := crashed(insts, restarts); why != "" {
			a.autoRollback(rel, slot, why)
			return
		}
		st := a.proxy.Stats(rel.App)[slot]
		req, errs := st.Requests-base.Requests, st.Errors5xx-base.Errors5xx
		if req >= watchMinRequests && errs*100 > req*watchMaxErrorPct {
			a.autoRollback(rel, slot, fmt.Sprintf("%d of its first %d requests failed with a 5xx status", errs, req))
			return
		}
	}
}

func crashed(insts []scheduler.Instance, restarts map[string]int) string {
	for _, in := range insts {
		if in.Type != "web" {
			continue
		}
		if in.State == api.StateCrashed || in.Restarts > restarts[in.Name()] {
			return fmt.Sprintf("%s crashed after the switch", in.Name())
		}
	}
	return ""
}

// autoRollback sends traffic back to the standby and marks rel failed.
func (a *Agent) autoRollback(rel api.Release, slot, why string) {
	app, err := a.store.GetApp(rel.App)
	if err != nil || app.LiveRelease != rel.Version || app.StandbyRelease == 0 {
		a.markFailed(rel.App, rel.Version, why+"; no standby to return to")
		return
	}
	standbySlot := api.OtherSlot(slot)
	ctx, cancel := context.WithTimeout(a.ctx, time.Minute)
	defer cancel()
	if err := a.restoreSlot(ctx, app, standbySlot, app.StandbyRelease); err != nil {
		a.markFailed(rel.App, rel.Version, fmt.Sprintf("%s; returning to v%d failed: %v", why, app.StandbyRelease, err))
		return
	}
	back := app.StandbyRelease
	if _, err := a.store.UpdateApp(rel.App, func(x *api.App) error {
		x.LiveSlot, x.LiveRelease = standbySlot, back
		x.StandbyRelease, x.StandbyUntil = 0, time.Time{}
		return nil
	}); err != nil {
		a.logf("rolling %s back to v%d: %v", rel.App, back, err)
		return
	}
	if r, err := a.store.GetRelease(rel.App, back); err == nil {
		_, _ = a.store.UpdateApp(rel.App, func(x *api.App) error {
			x.Processes, x.Buildpack = withoutRelease(r.Processes), r.Buildpack
			return nil
		})
	}
	// The config goes back too: a bad config var must not come back with
	// the next deploy.
	if vars, err := a.store.ReleaseConfig(rel.App, back); err != nil {
		a.logf("reading the config of v%d of %s: %v", back, rel.App, err)
	} else if err := a.store.SetConfig(rel.App, vars); err != nil {
		a.logf("restoring the config of v%d of %s: %v", back, rel.App, err)
	}
	a.refreshRoutes()
	a.setStatus(rel.App, back, api.StatusLive, "")
	reason := fmt.Sprintf("rolled back automatically to v%d: %s", back, why)
	a.setStatus(rel.App, rel.Version, api.StatusFailed, reason)
	a.event(rel.App, "rollback", "", "v%d %s", rel.Version, reason)
	_ = sleep(a.ctx, drainDelay)
	a.stopSlot(rel.App, slot)
}

// restoreSlot checks that slot still runs release with healthy web
// processes and starts its other processes again.
func (a *Agent) restoreSlot(ctx context.Context, app api.App, slot string, release int) error {
	insts, err := a.slotInstances(ctx, app.Name, slot, 0)
	if err != nil {
		return err
	}
	up := 0
	for _, in := range insts {
		if in.Type == "web" && in.State == api.StateUp {
			up++
		}
	}
	if up == 0 && app.Formation["web"] > 0 {
		return fmt.Errorf("the %s slot has no web process running", slot)
	}
	// Only vetted instances are routed, and a standby's vetting lapsed when
	// it left the route table: check its web processes again now.
	if err := a.vetSlot(ctx, app.Name, insts, release); err != nil {
		return err
	}
	rest := scheduler.Formation{}
	for t, n := range app.Formation {
		if t != "web" {
			rest[t] = n
		}
	}
	if len(rest) > 0 {
		if err := a.sched.Scale(ctx, app.Name, slot, rest); err != nil {
			return fmt.Errorf("starting the other processes: %w", err)
		}
	}
	return nil
}

// vetSlot health-checks the web instances of a slot that runs release and
// marks them fit for routing.
func (a *Agent) vetSlot(ctx context.Context, app string, insts []scheduler.Instance, release int) error {
	var slug string
	if r, err := a.store.GetRelease(app, release); err == nil && r.SlugID != "" {
		slug = a.slugPath(r.SlugID)
	}
	hc, _ := webCheck(readAppJSON(slug))
	for _, in := range insts {
		if in.Type != "web" || in.State != api.StateUp {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, hc.Timeout)
		err := proxy.CheckHealth(cctx, in.Addr, hc)
		cancel()
		if err != nil {
			return fmt.Errorf("%s of the %s slot is not healthy: %w", in.Name(), in.Slot, err)
		}
		a.markVetted(in)
	}
	return nil
}
