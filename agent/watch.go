package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/pierhq/pier/api"
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
func (dp *deployer) startWatch(app api.App, rel api.Release, slot string) {
	window := dp.cfg.WatchWindow
	if app.WatchWindow > 0 {
		window = time.Duration(app.WatchWindow)
	}
	if window <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(dp.ctx, window)
	dp.track(dp.watches, app.Name, ctx, cancel, func(ctx context.Context) { dp.watchRelease(ctx, rel, slot) })
}

// track runs fn on one of the agent's goroutines, registered in reg (the
// watches, the canaries' runners) under app until it returns; cancel ends
// its ctx, and stopTracked ends and waits for it. It reports false, and
// runs nothing, when app has one registered already.
func (dp *deployer) track(reg map[string]*watch, app string, ctx context.Context, cancel context.CancelFunc, fn func(context.Context)) bool {
	w := &watch{cancel: cancel, done: make(chan struct{})}
	dp.mu.Lock()
	if reg[app] != nil {
		dp.mu.Unlock()
		cancel()
		return false
	}
	reg[app] = w
	dp.mu.Unlock()
	dp.wg.Add(1)
	go func() {
		defer dp.wg.Done()
		defer close(w.done)
		defer cancel()
		fn(ctx)
		dp.mu.Lock()
		if reg[app] == w {
			delete(reg, app)
		}
		dp.mu.Unlock()
	}()
	return true
}

// stopTracked ends app's goroutine in reg, if any, and waits for it.
func (dp *deployer) stopTracked(reg map[string]*watch, app string) {
	dp.mu.Lock()
	w := reg[app]
	dp.mu.Unlock()
	if w != nil {
		w.cancel()
		<-w.done
	}
}

// stopWatch ends the watch of app, if any, and waits for it: the operation
// that stops it takes the release as good.
func (dp *deployer) stopWatch(app string) { dp.stopTracked(dp.watches, app) }

func (dp *deployer) watchRelease(ctx context.Context, rel api.Release, slot string) {
	base := dp.traffic.Stats(rel.App)[slot]
	restarts := map[string]int{}
	if insts, err := dp.slotInstances(ctx, rel.App, slot, rel.Version); err == nil {
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
		insts, err := dp.slotInstances(ctx, rel.App, slot, rel.Version)
		if err != nil {
			continue
		}
		if why := crashed(insts, restarts); why != "" {
			dp.autoRollback(rel, slot, why, "crash")
			return
		}
		st := dp.traffic.Stats(rel.App)[slot]
		req, errs := st.Requests-base.Requests, st.Errors5xx-base.Errors5xx
		if req >= watchMinRequests && errs*100 > req*watchMaxErrorPct {
			dp.autoRollback(rel, slot, fmt.Sprintf("%d of its first %d requests failed with a 5xx status", errs, req), "errors")
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

// autoRollback sends traffic back to the standby and marks rel failed;
// cause (crash, errors) is why, for the metrics.
func (dp *deployer) autoRollback(rel api.Release, slot, why, cause string) {
	app, err := dp.store.GetApp(rel.App)
	if err != nil || app.LiveRelease != rel.Version || app.StandbyRelease == 0 {
		dp.markFailed(rel.App, rel.Version, why+"; no standby to return to")
		dp.metrics.deployEnded(rel.App, deployFailed, "watch")
		return
	}
	standbySlot := api.OtherSlot(slot)
	ctx, cancel := context.WithTimeout(dp.ctx, time.Minute)
	defer cancel()
	if err := dp.restoreSlot(ctx, app, standbySlot, app.StandbyRelease); err != nil {
		dp.markFailed(rel.App, rel.Version, fmt.Sprintf("%s; returning to v%d failed: %v", why, app.StandbyRelease, err))
		dp.metrics.deployEnded(rel.App, deployFailed, "watch")
		return
	}
	back := app.StandbyRelease
	if _, err := dp.store.UpdateApp(rel.App, func(x *api.App) error {
		x.LiveSlot, x.LiveRelease = standbySlot, back
		x.StandbyRelease, x.StandbyUntil = 0, time.Time{}
		return nil
	}); err != nil {
		dp.logf("rolling %s back to v%d: %v", rel.App, back, err)
		return
	}
	if r, err := dp.store.GetRelease(rel.App, back); err == nil {
		_, _ = dp.store.UpdateApp(rel.App, func(x *api.App) error {
			x.Processes, x.Buildpack = withoutRelease(r.Processes), r.Buildpack
			return nil
		})
	}
	// The config goes back too: a bad config var must not come back with
	// the next deploy.
	if vars, err := dp.store.ReleaseConfig(rel.App, back); err != nil {
		dp.logf("reading the config of v%d of %s: %v", back, rel.App, err)
	} else if err := dp.store.SetConfig(rel.App, vars); err != nil {
		dp.logf("restoring the config of v%d of %s: %v", back, rel.App, err)
	}
	dp.routes.refreshRoutes()
	dp.setStatus(rel.App, back, api.StatusLive, "")
	reason := fmt.Sprintf("rolled back automatically to v%d: %s", back, why)
	dp.setStatus(rel.App, rel.Version, api.StatusFailed, reason)
	dp.events.addData(rel.App, api.EventRollbackAutomatic, "", api.EventData{
		"release": releaseName(rel.Version), "to": releaseName(back), "commit": rel.Commit, "reason": why, "cause": cause,
	}, "v%d %s", rel.Version, reason)
	dp.metrics.deployEnded(rel.App, deployRolledBack, cause)
	_ = sleep(dp.ctx, drainDelay)
	dp.stopSlot(rel.App, slot)
}

// restoreSlot checks that slot still runs release with healthy web
// processes and starts its other processes again.
func (dp *deployer) restoreSlot(ctx context.Context, app api.App, slot string, release int) error {
	insts, err := dp.slotInstances(ctx, app.Name, slot, 0)
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
	if err := dp.vetSlot(ctx, app.Name, insts, release); err != nil {
		return err
	}
	rest := scheduler.Formation{}
	for t, n := range app.Formation {
		if t != "web" {
			rest[t] = n
		}
	}
	if len(rest) > 0 {
		if err := dp.sched.Scale(ctx, app.Name, slot, rest); err != nil {
			return fmt.Errorf("starting the other processes: %w", err)
		}
	}
	return nil
}
