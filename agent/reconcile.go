package agent

import (
	"context"
	"sync"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

// reconcile brings the store and what runs together after a start: deploys
// that a stop interrupted are marked failed, running instances of the live
// slots are re-adopted (health-checked, not restarted) and routed, and a live
// release with nothing running is started again.
func (dp *deployer) reconcile() {
	ctx, cancel := context.WithTimeout(dp.ctx, 30*time.Second)
	defer cancel()
	apps, err := dp.store.ListApps()
	if err != nil {
		dp.logf("reconciling: %v", err)
		return
	}
	var wg sync.WaitGroup
	var restart []api.App
	for _, app := range apps {
		dp.failInterrupted(app.Name)
		if app.LiveRelease == 0 {
			continue
		}
		insts, err := dp.slotInstances(ctx, app.Name, app.LiveSlot, 0)
		if err != nil {
			dp.logf("reconciling %s: %v", app.Name, err)
			continue
		}
		// Instances of the other slot that are neither live nor standby are
		// leftovers of an interrupted deploy.
		if app.StandbyRelease == 0 && app.Canary == nil {
			dp.stopLeftovers(ctx, app)
		}
		if len(insts) == 0 {
			restart = append(restart, app)
			continue
		}
		hc, _ := webCheck(readAppJSON(liveSlug(dp.store, dp.dirs, app)))
		for _, in := range insts {
			if in.Type != "web" || in.State != api.StateUp {
				continue
			}
			wg.Add(1)
			go func(in scheduler.Instance) {
				defer wg.Done()
				cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
				defer ccancel()
				_ = dp.health.Check(cctx, candidateOf(in), hc)
			}(in)
		}
	}
	wg.Wait()
	dp.routes.refreshRoutes()
	for _, app := range apps {
		if app.Canary != nil {
			dp.wg.Add(1)
			go func(app api.App) {
				defer dp.wg.Done()
				dp.resumeCanary(dp.ctx, app)
			}(app)
		}
	}
	for _, app := range restart {
		dp.wg.Add(1)
		go func(app api.App) {
			defer dp.wg.Done()
			dp.restartLive(app)
		}(app)
	}
}

// failInterrupted marks releases left pending by a stop as failed.
func (dp *deployer) failInterrupted(app string) {
	rels, err := dp.store.ListReleases(app)
	if err != nil {
		return
	}
	for _, r := range rels {
		if r.Status == api.StatusPending {
			dp.markFailed(app, r.Version, "interrupted: the pier agent stopped during the deploy")
		}
	}
}

func (dp *deployer) stopLeftovers(ctx context.Context, app api.App) {
	idle := api.OtherSlot(app.LiveSlot)
	insts, err := dp.slotInstances(ctx, app.Name, idle, 0)
	if err != nil || len(insts) == 0 {
		return
	}
	dp.logf("stopping the %s slot of %s, left over from an interrupted deploy", idle, app.Name)
	if err := dp.sched.Stop(ctx, app.Name, idle); err != nil {
		dp.logf("stopping leftovers of %s: %v", app.Name, err)
	}
}

// restartLive starts the live release of app again in its slot (after a
// host reboot nothing runs).
func (dp *deployer) restartLive(app api.App) {
	unlock, err := dp.lockApp(dp.ctx, app.Name, discard{})
	if err != nil {
		return
	}
	defer unlock()
	rel, err := dp.store.GetRelease(app.Name, app.LiveRelease)
	if err != nil {
		return
	}
	vars, err := dp.store.ReleaseConfig(app.Name, rel.Version)
	if err != nil {
		return
	}
	dp.logf("starting v%d of %s again: nothing of it was running", rel.Version, app.Name)
	ctx, cancel := context.WithTimeout(dp.ctx, 5*time.Minute)
	defer cancel()
	d, err := dp.deployment(app, rel, app.LiveSlot, vars, scheduler.Formation(app.Formation))
	if err == nil {
		err = dp.sched.Deploy(ctx, d)
	}
	if err != nil {
		dp.events.addData(app.Name, api.EventInstanceCrashed, "", api.EventData{"release": releaseName(rel.Version), "reason": err.Error()},
			"Starting v%d again failed: %v", rel.Version, err)
		return
	}
	if err := dp.waitHealthy(ctx, app.Name, app.LiveSlot, rel.Version, d.Formation, readAppJSON(d.Slug), discard{}); err != nil {
		dp.events.addData(app.Name, api.EventInstanceCrashed, "", api.EventData{"release": releaseName(rel.Version), "reason": err.Error()},
			"v%d started again but is not healthy: %v", rel.Version, err)
	} else {
		dp.events.addData(app.Name, api.EventInstanceRestarted, "", api.EventData{"release": releaseName(rel.Version)},
			"Started v%d again: nothing of it was running when the agent started", rel.Version)
	}
	dp.routes.refreshRoutes()
}

// janitor stops standby slots whose window has passed and prunes old slugs.
func (dp *deployer) janitor() {
	defer dp.wg.Done()
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-dp.ctx.Done():
			return
		case <-t.C:
		}
		dp.expireStandbys()
		dp.expireReviewApps()
		dp.pruneSlugs()
		dp.logs.pruneHistory(dp.cfg.LogRetention, time.Now())
	}
}

func (dp *deployer) expireStandbys() {
	apps, err := dp.store.ListApps()
	if err != nil {
		return
	}
	now := time.Now()
	for _, app := range apps {
		if app.StandbyRelease == 0 || app.StandbyUntil.IsZero() || now.Before(app.StandbyUntil) {
			continue
		}
		unlock, err := dp.lockApp(dp.ctx, app.Name, discard{})
		if err != nil {
			return
		}
		cur, err := dp.store.GetApp(app.Name)
		if err == nil && cur.StandbyRelease != 0 && !now.Before(cur.StandbyUntil) {
			dp.stopSlot(app.Name, api.OtherSlot(cur.LiveSlot))
			_ = dp.dropStandby(app.Name)
			dp.events.addData(app.Name, api.EventStandbyStopped, "", api.EventData{"release": releaseName(cur.StandbyRelease)}, "Standby v%d stopped: its standby window ended", cur.StandbyRelease)
		}
		unlock()
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
