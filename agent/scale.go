package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/procfile"
	"github.com/pierhq/pier/scheduler"
)

// maxInstances caps the count of one process type.
const maxInstances = 100

// drainDelay lets requests routed just before a route swap reach their
// instance before it is told to stop.
const drainDelay = 500 * time.Millisecond

// Bounds of a process type's memory limit, in MiB.
const (
	minMemoryMB = 16
	maxMemoryMB = 1 << 20
)

// scale changes the live slot's counts. Web processes that go leave the
// route table before they stop; new ones join once healthy. A changed
// memory limit restarts the app blue/green, so the new limit applies
// without a failed request.
func (dp *deployer) scale(ctx context.Context, name string, req api.ScaleRequest, user string) (api.App, error) {
	f := req.Formation
	if len(f) == 0 {
		return api.App{}, invalidf("nothing to scale: use `pier scale web=2`")
	}
	for t, mb := range req.Memory {
		if _, ok := f[t]; !ok {
			return api.App{}, invalidf("memory for %s needs its count too: pier scale %s=N:%dM", t, t, mb)
		}
		if mb < minMemoryMB || mb > maxMemoryMB {
			return api.App{}, invalidf("%s: memory must be between %d MiB and 1 TiB, not %d MiB", t, minMemoryMB, mb)
		}
	}
	unlock, err := dp.lockApp(ctx, name, io.Discard)
	if err != nil {
		return api.App{}, err
	}
	defer unlock()
	app, err := dp.store.GetApp(name)
	if err != nil {
		return api.App{}, err
	}
	for t, n := range f {
		if !procfile.ValidType(t) {
			return api.App{}, invalidf("%q is not a process type: use 1 to 63 letters, digits, - and _", t)
		}
		if _, ok := app.Processes[t]; !ok && app.LiveRelease != 0 {
			return api.App{}, invalidf("%s has no process type %q (it has: %s)", name, t, strings.Join(sortedKeys(app.Processes), ", "))
		}
		if n < 0 {
			return api.App{}, invalidf("%s=%d: a count cannot be negative", t, n)
		}
		if n > maxInstances {
			return api.App{}, invalidf("%s=%d: at most %d instances of a process type", t, n, maxInstances)
		}
	}
	memChanged := false
	for t, mb := range req.Memory {
		memChanged = memChanged || app.MemoryMB[t] != mb
	}
	if app.LiveRelease != 0 {
		if err := dp.scaleSlot(ctx, app, f); err != nil {
			return api.App{}, err
		}
	}
	app, err = dp.store.UpdateApp(name, func(x *api.App) error {
		if x.Formation == nil {
			x.Formation = map[string]int{}
		}
		for t, n := range f {
			x.Formation[t] = n
		}
		for t, mb := range req.Memory {
			if x.MemoryMB == nil {
				x.MemoryMB = map[string]int{}
			}
			x.MemoryMB[t] = mb
		}
		return nil
	})
	if err != nil {
		return api.App{}, err
	}
	dp.events.addData(name, api.EventScale, user, api.EventData{"formation": formationString(scheduler.Formation(app.Formation))}, "Scaled to %s", formationString(scheduler.Formation(app.Formation)))
	if memChanged && app.LiveRelease != 0 {
		if err := dp.restartLocked(ctx, name, user, io.Discard); err != nil {
			return api.App{}, fmt.Errorf("the new memory limits are saved, but restarting with them failed (the app keeps running as it was): %w", err)
		}
	}
	return app, nil
}

func (dp *deployer) scaleSlot(ctx context.Context, app api.App, f map[string]int) error {
	slot := app.LiveSlot
	if n, ok := f["web"]; ok && n < app.Formation["web"] {
		insts, err := dp.slotInstances(ctx, app.Name, slot, 0)
		if err != nil {
			return err
		}
		for _, in := range insts {
			if in.Type == "web" && in.Index > n {
				dp.routes.setDraining(in, true)
				defer dp.routes.setDraining(in, false)
			}
		}
		dp.routes.refreshRoutes()
		_ = sleep(ctx, drainDelay)
	}
	if err := dp.sched.Scale(ctx, app.Name, slot, scheduler.Formation(f)); err != nil {
		return fmt.Errorf("scaling %s: %w", app.Name, err)
	}
	want := f["web"]
	if _, ok := f["web"]; ok && want > app.Formation["web"] {
		if err := dp.waitHealthy(ctx, app.Name, slot, 0, scheduler.Formation{"web": want}, readAppJSON(liveSlug(dp.store, dp.dirs, app)), io.Discard); err != nil {
			return err
		}
	}
	dp.routes.refreshRoutes()
	return nil
}
