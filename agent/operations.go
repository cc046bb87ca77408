package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
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

// rollback rolls app back to version (0: the release before the live one).
// To the standby's release it is a switch; to an older one, its stored slug
// starts in the idle slot. Either way a new release records it.
func (a *Agent) rollback(ctx context.Context, name string, version int, user string, out io.Writer) (api.Release, error) {
	unlock, err := a.lockApp(ctx, name, out)
	if err != nil {
		return api.Release{}, err
	}
	defer unlock()
	app, err := a.store.GetApp(name)
	if err != nil {
		return api.Release{}, err
	}
	if app.LiveRelease == 0 {
		return api.Release{}, userErrorf(409, "%s has no live release to roll back from: deploy it first", name)
	}
	target, err := a.rollbackTarget(app, version)
	if err != nil {
		return api.Release{}, err
	}
	if _, err := os.Stat(a.slugPath(target.SlugID)); err != nil {
		return api.Release{}, userErrorf(409, "the slug of v%d is no longer kept; deploy that commit again instead", target.Version)
	}
	vars, err := a.store.ReleaseConfig(name, target.Version)
	if err != nil {
		return api.Release{}, err
	}
	rel, err := a.store.CreateRelease(api.Release{
		App:         name,
		Description: fmt.Sprintf("Rollback to v%d", target.Version),
		Status:      api.StatusPending,
		Commit:      target.Commit,
		SlugID:      target.SlugID,
		Buildpack:   target.Buildpack,
		Processes:   target.Processes,
		CreatedBy:   user,
	}, vars)
	if err != nil {
		return api.Release{}, err
	}
	switched := false
	if app.StandbyRelease == target.Version {
		err := a.switchToStandby(ctx, app, rel)
		if err != nil {
			fmt.Fprintf(out, "-----> The standby could not take over (%v); starting v%d from its slug\n", err, target.Version)
		}
		switched = err == nil
	}
	if !switched {
		if err := a.deployRelease(ctx, rel, vars, out); err != nil {
			return api.Release{}, err
		}
	}
	// The app's config is the live release's: `pier config` shows what runs.
	if err := a.store.SetConfig(name, vars); err != nil {
		return api.Release{}, fmt.Errorf("restoring the config of v%d: %w", target.Version, err)
	}
	return a.store.GetRelease(name, rel.Version)
}

func (a *Agent) rollbackTarget(app api.App, version int) (api.Release, error) {
	if version == app.LiveRelease {
		return api.Release{}, userErrorf(409, "v%d is already live", version)
	}
	if version > 0 {
		r, err := a.store.GetRelease(app.Name, version)
		if err != nil {
			return api.Release{}, userErrorf(404, "%s has no release v%d: see `pier releases -a %s`", app.Name, version, app.Name)
		}
		if r.SlugID == "" {
			return api.Release{}, userErrorf(409, "v%d has no build to roll back to", version)
		}
		if r.Status == api.StatusFailed {
			return api.Release{}, userErrorf(409, "v%d failed (%s); roll back to a release that worked", version, r.Reason)
		}
		return r, nil
	}
	rels, err := a.store.ListReleases(app.Name)
	if err != nil {
		return api.Release{}, err
	}
	for _, r := range rels {
		if r.Version < app.LiveRelease && r.SlugID != "" && r.Status != api.StatusFailed {
			return r, nil
		}
	}
	return api.Release{}, userErrorf(409, "%s has no earlier release that worked to roll back to", app.Name)
}

// switchToStandby makes the standby slot live again under the new release
// rel: nothing builds and nothing starts but its stopped other processes.
func (a *Agent) switchToStandby(ctx context.Context, app api.App, rel api.Release) error {
	slot := api.OtherSlot(app.LiveSlot)
	if err := a.restoreSlot(ctx, app, slot, app.StandbyRelease); err != nil {
		return err
	}
	if _, err := a.store.UpdateRelease(app.Name, rel.Version, func(r *api.Release) error {
		r.Slot = slot
		return nil
	}); err != nil {
		return err
	}
	old := app.LiveRelease
	_, err := a.store.UpdateApp(app.Name, func(x *api.App) error {
		x.LiveSlot, x.LiveRelease = slot, rel.Version
		x.Processes, x.Buildpack = withoutRelease(rel.Processes), rel.Buildpack
		x.StandbyRelease = old
		x.StandbyUntil = time.Now().Add(a.standbyWindow(app))
		return nil
	})
	if err != nil {
		return err
	}
	a.refreshRoutes()
	a.setStatus(app.Name, app.StandbyRelease, api.StatusSuperseded, "")
	a.setStatus(app.Name, rel.Version, api.StatusLive, "")
	a.setStatus(app.Name, old, api.StatusStandby, "")
	a.trimStandby(app.Name, app.LiveSlot, app.Formation)
	a.event(app.Name, "rollback", rel.CreatedBy, "Release v%d is live (%s): switched to the %s slot", rel.Version, rel.Description, slot)
	return nil
}

// updateConfig sets and unsets config vars; a change deploys a new release
// the blue/green way, and the vars are stored only once it is live. Vars
// over the limits (configvars.go) are refused before anything changes.
func (a *Agent) updateConfig(ctx context.Context, name string, changes map[string]*string, user string, out io.Writer) (api.Release, error) {
	if err := checkConfigChanges(changes); err != nil {
		return api.Release{}, err
	}
	unlock, err := a.lockApp(ctx, name, out)
	if err != nil {
		return api.Release{}, err
	}
	defer unlock()
	app, err := a.store.GetApp(name)
	if err != nil {
		return api.Release{}, err
	}
	vars, err := a.store.Config(name)
	if err != nil {
		return api.Release{}, err
	}
	if vars == nil {
		vars = map[string]string{}
	}
	var set, unset []string
	for k, v := range changes {
		if v == nil {
			if _, ok := vars[k]; ok {
				delete(vars, k)
				unset = append(unset, k)
			}
			continue
		}
		if old, ok := vars[k]; !ok || old != *v {
			vars[k] = *v
			set = append(set, k)
		}
	}
	if len(set)+len(unset) == 0 {
		if app.LiveRelease == 0 {
			return api.Release{}, nil
		}
		return a.store.GetRelease(name, app.LiveRelease)
	}
	if err := checkConfigTotal(name, vars, set); err != nil {
		return api.Release{}, err
	}
	desc := configDescription(set, unset)
	if app.LiveRelease == 0 {
		// Nothing runs yet: the vars apply from the first deploy on.
		if err := a.store.SetConfig(name, vars); err != nil {
			return api.Release{}, err
		}
		a.event(name, "config", user, "%s", desc)
		return api.Release{}, nil
	}
	live, err := a.store.GetRelease(name, app.LiveRelease)
	if err != nil {
		return api.Release{}, err
	}
	rel, err := a.store.CreateRelease(api.Release{
		App:         name,
		Description: desc,
		Status:      api.StatusPending,
		Commit:      live.Commit,
		SlugID:      live.SlugID,
		Buildpack:   live.Buildpack,
		Processes:   live.Processes,
		CreatedBy:   user,
	}, vars)
	if err != nil {
		return api.Release{}, err
	}
	if err := a.deployRelease(ctx, rel, vars, out); err != nil {
		return api.Release{}, err
	}
	if err := a.store.SetConfig(name, vars); err != nil {
		return api.Release{}, err
	}
	a.event(name, "config", user, "%s", desc)
	return a.store.GetRelease(name, rel.Version)
}

func configDescription(set, unset []string) string {
	sort.Strings(set)
	sort.Strings(unset)
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "Set "+strings.Join(set, ", "))
	}
	if len(unset) > 0 {
		parts = append(parts, "Unset "+strings.Join(unset, ", "))
	}
	return strings.Join(parts, "; ")
}

// Bounds of a process type's memory limit, in MiB.
const (
	minMemoryMB = 16
	maxMemoryMB = 1 << 20
)

// scale changes the live slot's counts. Web processes that go leave the
// route table before they stop; new ones join once healthy. A changed
// memory limit restarts the app blue/green, so the new limit applies
// without a failed request.
func (a *Agent) scale(ctx context.Context, name string, req api.ScaleRequest, user string) (api.App, error) {
	f := req.Formation
	if len(f) == 0 {
		return api.App{}, userErrorf(400, "nothing to scale: use `pier scale web=2`")
	}
	for t, mb := range req.Memory {
		if _, ok := f[t]; !ok {
			return api.App{}, userErrorf(400, "memory for %s needs its count too: pier scale %s=N:%dM", t, t, mb)
		}
		if mb < minMemoryMB || mb > maxMemoryMB {
			return api.App{}, userErrorf(400, "%s: memory must be between %d MiB and 1 TiB, not %d MiB", t, minMemoryMB, mb)
		}
	}
	unlock, err := a.lockApp(ctx, name, io.Discard)
	if err != nil {
		return api.App{}, err
	}
	defer unlock()
	app, err := a.store.GetApp(name)
	if err != nil {
		return api.App{}, err
	}
	for t, n := range f {
		if !procfile.ValidType(t) {
			return api.App{}, userErrorf(400, "%q is not a process type: use 1 to 63 letters, digits, - and _", t)
		}
		if _, ok := app.Processes[t]; !ok && app.LiveRelease != 0 {
			return api.App{}, userErrorf(400, "%s has no process type %q (it has: %s)", name, t, strings.Join(sortedKeys(app.Processes), ", "))
		}
		if n < 0 {
			return api.App{}, userErrorf(400, "%s=%d: a count cannot be negative", t, n)
		}
		if n > maxInstances {
			return api.App{}, userErrorf(400, "%s=%d: at most %d instances of a process type", t, n, maxInstances)
		}
	}
	memChanged := false
	for t, mb := range req.Memory {
		memChanged = memChanged || app.MemoryMB[t] != mb
	}
	if app.LiveRelease != 0 {
		if err := a.scaleSlot(ctx, app, f); err != nil {
			return api.App{}, err
		}
	}
	app, err = a.store.UpdateApp(name, func(x *api.App) error {
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
	a.event(name, "scale", user, "Scaled to %s", formationString(scheduler.Formation(app.Formation)))
	if memChanged && app.LiveRelease != 0 {
		if err := a.restartLocked(ctx, name, user, io.Discard); err != nil {
			return api.App{}, fmt.Errorf("the new memory limits are saved, but restarting with them failed (the app keeps running as it was): %w", err)
		}
	}
	return app, nil
}

func (a *Agent) scaleSlot(ctx context.Context, app api.App, f map[string]int) error {
	slot := app.LiveSlot
	if n, ok := f["web"]; ok && n < app.Formation["web"] {
		insts, err := a.slotInstances(ctx, app.Name, slot, 0)
		if err != nil {
			return err
		}
		for _, in := range insts {
			if in.Type == "web" && in.Index > n {
				a.setDraining(in, true)
				defer a.setDraining(in, false)
			}
		}
		a.refreshRoutes()
		_ = sleep(ctx, drainDelay)
	}
	if err := a.sched.Scale(ctx, app.Name, slot, scheduler.Formation(f)); err != nil {
		return fmt.Errorf("scaling %s: %w", app.Name, err)
	}
	want := f["web"]
	if _, ok := f["web"]; ok && want > app.Formation["web"] {
		if err := a.waitHealthy(ctx, app.Name, slot, 0, scheduler.Formation{"web": want}, readAppJSON(a.liveSlug(app)), io.Discard); err != nil {
			return err
		}
	}
	a.refreshRoutes()
	return nil
}

// restart replaces the app's processes without a failed request: the live
// release starts in the idle slot and takes over once healthy.
func (a *Agent) restart(ctx context.Context, name, user string, out io.Writer) error {
	unlock, err := a.lockApp(ctx, name, out)
	if err != nil {
		return err
	}
	defer unlock()
	return a.restartLocked(ctx, name, user, out)
}

// restartLocked is restart for a caller that holds the app's lock.
func (a *Agent) restartLocked(ctx context.Context, name, user string, out io.Writer) error {
	app, err := a.store.GetApp(name)
	if err != nil {
		return err
	}
	if app.LiveRelease == 0 {
		return userErrorf(409, "%s has nothing running to restart: deploy it first", name)
	}
	rel, err := a.store.GetRelease(name, app.LiveRelease)
	if err != nil {
		return err
	}
	vars, err := a.store.ReleaseConfig(name, rel.Version)
	if err != nil {
		return err
	}
	slot := api.OtherSlot(app.LiveSlot)
	d, err := a.deployment(rel, slot, vars, scheduler.Formation(app.Formation))
	if err != nil {
		return err
	}
	if err := a.dropStandby(name); err != nil {
		return err
	}
	if err := a.sched.Deploy(ctx, d); err != nil {
		a.stopSlot(name, slot)
		return startFailed(rel.Version, err, true)
	}
	aj := readAppJSON(a.slugPath(rel.SlugID))
	if err := a.waitHealthy(ctx, name, slot, rel.Version, d.Formation, aj, out); err != nil {
		a.stopSlot(name, slot)
		return &deployError{err}
	}
	if _, err := a.store.UpdateApp(name, func(x *api.App) error {
		x.LiveSlot = slot
		return nil
	}); err != nil {
		return err
	}
	if _, err := a.store.UpdateRelease(name, rel.Version, func(r *api.Release) error {
		r.Slot = slot
		return nil
	}); err != nil {
		return err
	}
	a.refreshRoutes()
	_ = sleep(ctx, drainDelay)
	a.stopSlot(name, app.LiveSlot)
	a.event(name, "restart", user, "Restarted v%d in the %s slot", rel.Version, slot)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
