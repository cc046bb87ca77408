package agent

import (
	"context"
	"io"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

// restart replaces the app's processes without a failed request: the live
// release starts in the idle slot and takes over once healthy.
func (dp *deployer) restart(ctx context.Context, name, user string, out io.Writer) error {
	unlock, err := dp.lockApp(ctx, name, out)
	if err != nil {
		return err
	}
	defer unlock()
	return dp.restartLocked(ctx, name, user, out)
}

// restartLocked is restart for a caller that holds the app's lock.
func (dp *deployer) restartLocked(ctx context.Context, name, user string, out io.Writer) error {
	app, err := dp.store.GetApp(name)
	if err != nil {
		return err
	}
	if app.LiveRelease == 0 {
		return conflictf("%s has nothing running to restart: deploy it first", name)
	}
	rel, err := dp.store.GetRelease(name, app.LiveRelease)
	if err != nil {
		return err
	}
	vars, err := dp.store.ReleaseConfig(name, rel.Version)
	if err != nil {
		return err
	}
	slot := api.OtherSlot(app.LiveSlot)
	d, err := dp.deployment(app, rel, slot, vars, scheduler.Formation(app.Formation))
	if err != nil {
		return err
	}
	if err := dp.dropStandby(name); err != nil {
		return err
	}
	if err := dp.sched.Deploy(ctx, d); err != nil {
		dp.stopSlot(name, slot)
		return startFailed(rel.Version, err, true)
	}
	aj := readAppJSON(dp.dirs.slugPath(rel.SlugID))
	if err := dp.waitHealthy(ctx, name, slot, rel.Version, d.Formation, aj, out); err != nil {
		dp.stopSlot(name, slot)
		return &deployError{err}
	}
	if _, err := dp.store.UpdateApp(name, func(x *api.App) error {
		x.LiveSlot = slot
		return nil
	}); err != nil {
		return err
	}
	if _, err := dp.store.UpdateRelease(name, rel.Version, func(r *api.Release) error {
		r.Slot = slot
		return nil
	}); err != nil {
		return err
	}
	dp.routes.refreshRoutes()
	_ = sleep(ctx, drainDelay)
	dp.stopSlot(name, app.LiveSlot)
	dp.events.addData(name, api.EventInstanceRestarted, user, api.EventData{"release": releaseName(rel.Version), "slot": slot}, "Restarted v%d in the %s slot", rel.Version, slot)
	return nil
}
