package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// rollback rolls app back to version (0: the release before the live one).
// To the standby's release it is a switch; to an older one, its stored slug
// starts in the idle slot. Either way a new release records it.
func (dp *deployer) rollback(ctx context.Context, name string, version int, user string, out io.Writer) (api.Release, error) {
	unlock, err := dp.lockApp(ctx, name, out)
	if err != nil {
		return api.Release{}, err
	}
	defer unlock()
	app, err := dp.store.GetApp(name)
	if err != nil {
		return api.Release{}, err
	}
	if app.LiveRelease == 0 {
		return api.Release{}, conflictf("%s has no live release to roll back from: deploy it first", name)
	}
	if app.Canary != nil { // the rollback wins: the canary ends first
		fmt.Fprintf(out, "-----> Aborting canary v%d first\n", app.Canary.Release)
		dp.endCanaryLocked(name, app.Canary.Release, canaryAbort, "a rollback began", app.Canary.Last)
		if app, err = dp.store.GetApp(name); err != nil {
			return api.Release{}, err
		}
	}
	target, err := dp.rollbackTarget(app, version)
	if err != nil {
		return api.Release{}, err
	}
	if _, err := os.Stat(dp.dirs.slugPath(target.SlugID)); err != nil {
		return api.Release{}, conflictf("the slug of v%d is no longer kept; deploy that commit again instead", target.Version)
	}
	vars, err := dp.store.ReleaseConfig(name, target.Version)
	if err != nil {
		return api.Release{}, err
	}
	desc := fmt.Sprintf("Rollback to v%d", target.Version)
	if app.StandbyRelease == target.Version {
		rel, err := dp.switchToStandby(ctx, app, target, desc, user, vars)
		if err == nil {
			return rel, nil
		}
		fmt.Fprintf(out, "-----> The standby could not take over (%v); starting v%d from its slug\n", err, target.Version)
	}
	rel, err := dp.releaseOfBuild(target, desc, user, vars)
	if err != nil {
		return api.Release{}, err
	}
	if err := dp.deployRelease(ctx, app, rel, vars, out); err != nil {
		return api.Release{}, err
	}
	dp.metrics.deployEnded(name, deploySucceeded, "rollback")
	dp.events.addData(name, api.EventRollbackManual, user, rollbackData(rel, target, app), "Rolled back from v%d to v%d (as v%d)", app.LiveRelease, target.Version, rel.Version)
	// The app's config is the live release's: `pier config` shows what runs.
	if err := dp.store.SetConfig(name, vars); err != nil {
		return api.Release{}, fmt.Errorf("restoring the config of v%d: %w", target.Version, err)
	}
	return dp.store.GetRelease(name, rel.Version)
}

func rollbackData(rel, target api.Release, app api.App) api.EventData {
	return api.EventData{"release": releaseName(rel.Version), "to": releaseName(target.Version), "from": releaseName(app.LiveRelease), "commit": rel.Commit}
}

// releaseOfBuild makes a new pending release of target's build (slug,
// commit, processes) with vars: a rollback's, a canary's.
func (dp *deployer) releaseOfBuild(target api.Release, description, user string, vars map[string]string) (api.Release, error) {
	rel, err := dp.store.CreateRelease(api.Release{
		App:         target.App,
		Description: description,
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
	dp.releaseCreated(rel)
	return rel, nil
}

func (dp *deployer) rollbackTarget(app api.App, version int) (api.Release, error) {
	if version == app.LiveRelease {
		return api.Release{}, conflictf("v%d is already live", version)
	}
	if version > 0 {
		r, err := dp.store.GetRelease(app.Name, version)
		if err != nil {
			return api.Release{}, notFoundf("%s has no release v%d: see `pier releases -a %s`", app.Name, version, app.Name)
		}
		if r.SlugID == "" {
			return api.Release{}, conflictf("v%d has no build to roll back to", version)
		}
		if r.Status == api.StatusFailed {
			return api.Release{}, conflictf("v%d failed (%s); roll back to a release that worked", version, r.Reason)
		}
		return r, nil
	}
	rels, err := dp.store.ListReleases(app.Name)
	if err != nil {
		return api.Release{}, err
	}
	for _, r := range rels {
		if r.Version < app.LiveRelease && r.SlugID != "" && r.Status != api.StatusFailed {
			return r, nil
		}
	}
	return api.Release{}, conflictf("%s has no earlier release that worked to roll back to", app.Name)
}

// switchToStandby makes the standby slot live again under a new release
// of target's build: nothing builds and nothing starts but its stopped
// other processes. Once the standby's web processes pass their check, the
// release, the app, the statuses, its config and the events are written in
// one transaction (one sync to disk), then the proxy switches.
func (dp *deployer) switchToStandby(ctx context.Context, app api.App, target api.Release, desc, user string, vars map[string]string) (api.Release, error) {
	slot := api.OtherSlot(app.LiveSlot)
	if err := dp.restoreSlot(ctx, app, slot, app.StandbyRelease); err != nil {
		return api.Release{}, err
	}
	old := app.LiveRelease
	rel := api.Release{
		App: app.Name, Description: desc, Status: api.StatusLive, Slot: slot,
		Commit: target.Commit, SlugID: target.SlugID, Buildpack: target.Buildpack, Processes: target.Processes,
		CreatedBy: user,
	}
	rel, events, err := dp.store.ApplySwitch(store.Switch{
		Release: rel,
		Vars:    vars,
		App: func(x *api.App, version int) error {
			x.LiveSlot, x.LiveRelease = slot, version
			x.Processes, x.Buildpack = withoutRelease(rel.Processes), rel.Buildpack
			x.StandbyRelease = old
			x.StandbyUntil = time.Now().Add(dp.standbyWindow(app))
			return nil
		},
		Statuses: map[int]string{target.Version: api.StatusSuperseded, old: api.StatusStandby},
		Events: func(version int) []api.Event {
			r := rel
			r.Version = version
			return []api.Event{
				dp.events.event(app.Name, api.EventReleaseCreated, user, releaseData(r, ""), "Release v%d created (%s)", version, desc),
				dp.events.event(app.Name, api.EventDeploySucceeded, user, releaseData(r, slot), "Release v%d is live (%s): switched to the %s slot", version, desc, slot),
				dp.events.event(app.Name, api.EventRollbackManual, user, rollbackData(r, target, app), "Rolled back from v%d to v%d (as v%d)", old, target.Version, version),
			}
		},
	})
	if err != nil {
		return api.Release{}, err
	}
	dp.routes.refreshRoutes()
	dp.events.recorded(events...)
	dp.trimStandby(app.Name, app.LiveSlot, app.Formation)
	dp.metrics.deployEnded(app.Name, deploySucceeded, "rollback")
	return rel, nil
}
