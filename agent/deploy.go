package agent

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pierhq/pier/agent/gitserver"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/procfile"
	"github.com/pierhq/pier/scheduler"
)

// pushDeploy builds the pushed tree and deploys it as a new release.
func (dp *deployer) pushDeploy(ctx context.Context, p gitserver.Push, out io.Writer) error {
	// The pushed tree is read whole before waiting for another deploy:
	// left unread, its upload stalls and breaks.
	src, err := os.MkdirTemp(dp.dirs.tmp, "src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := extractTar(p.Tar, src); err != nil {
		return err
	}
	unlock, err := dp.lockApp(ctx, p.App, out)
	if err != nil {
		return err
	}
	deployed := false
	defer func() {
		if deployed && p.Ref != "" {
			dp.unlockWhenRefMoves(p.App, p.Ref, p.Commit, unlock)
			return
		}
		unlock()
	}()
	// git updates the branch only if it still points where it did when the
	// push began; a push that waited for another one finds it moved.
	if p.Ref != "" && dp.git.Rev(p.App, p.Ref) != p.Old {
		return fmt.Errorf("%s moved while this push waited: another push landed first.\nFetch, check what is deployed, and push again", strings.TrimPrefix(p.Ref, "refs/heads/"))
	}
	vars, err := dp.store.Config(p.App)
	if err != nil {
		return err
	}
	_, builder, err := dp.identities(p.App)
	if err != nil {
		return err
	}
	short := shortCommit(p.Commit)
	fmt.Fprintf(out, "-----> Building %s from commit %s\n", p.App, short)
	dp.events.addData(p.App, api.EventBuildStarted, p.User, api.EventData{"commit": p.Commit}, "Build started for commit %s", short)
	buildStart := time.Now()
	res, err := dp.builder.Build(ctx, buildpacks.Options{
		App:        p.App,
		SourceDir:  src,
		Env:        vars,
		Buildpacks: dp.chosenBuildpacks(src, vars),
		User:       builder,
	}, out)
	dp.metrics.phase(p.App, "build", buildStart)
	if err != nil {
		dp.metrics.deployEnded(p.App, deployFailed, "build")
		dp.events.addData(p.App, api.EventBuildFailed, p.User, api.EventData{"commit": p.Commit, "reason": err.Error()}, "Build failed for commit %s: %v", short, err)
		return fmt.Errorf("build failed: %w", err)
	}
	dp.events.addData(p.App, api.EventBuildSucceeded, p.User, api.EventData{"commit": p.Commit, "buildpack": res.Buildpack},
		"Build succeeded for commit %s (%s)", short, humanBytes(res.SlugSize))
	if err := writeAppJSON(res.SlugPath, res.AppJSON); err != nil {
		return err
	}
	fmt.Fprintf(out, "-----> Compressed slug: %s\n", humanBytes(res.SlugSize))
	app, err := dp.store.GetApp(p.App)
	if err != nil {
		return err
	}
	rel, err := dp.store.CreateRelease(api.Release{
		App:         p.App,
		Description: "Deploy " + short,
		Status:      api.StatusPending,
		Commit:      p.Commit,
		SlugID:      res.SlugSHA256,
		Buildpack:   res.Buildpack,
		Processes:   res.Processes,
		CreatedBy:   p.User,
	}, vars)
	if err != nil {
		return err
	}
	dp.releaseCreated(rel)
	if app.CanarySettings.OnPush {
		if err := dp.pushCanary(ctx, app, rel, vars, out); err != nil {
			return err
		}
		deployed = true
		return nil
	}
	if err := dp.deployRelease(ctx, app, rel, vars, out); err != nil {
		return err
	}
	dp.metrics.deployEnded(p.App, deploySucceeded, "push")
	deployed = true
	return nil
}

// unlockWhenRefMoves keeps app's lock until git has moved ref to commit,
// which it does only after the hook has answered, so that the next push
// compares against the branch as it really is.
func (dp *deployer) unlockWhenRefMoves(app, ref, commit string, unlock func()) {
	dp.wg.Add(1)
	go func() {
		defer dp.wg.Done()
		defer unlock()
		ctx, cancel := context.WithTimeout(dp.ctx, 30*time.Second)
		defer cancel()
		for dp.git.Rev(app, ref) != commit {
			if sleep(ctx, 50*time.Millisecond) != nil {
				return
			}
		}
	}()
}

// chosenBuildpacks returns the buildpacks the app names: the BUILDPACK
// config var, else app.json's buildpacks; none means detect.
func (dp *deployer) chosenBuildpacks(src string, vars map[string]string) []string {
	if bp := strings.TrimSpace(vars["BUILDPACK"]); bp != "" {
		return strings.Fields(strings.ReplaceAll(bp, ",", " "))
	}
	f, err := os.Open(filepath.Join(src, "app.json"))
	if err != nil {
		return nil
	}
	defer f.Close()
	aj, err := procfile.ParseAppJSON(f)
	if err != nil {
		return nil // the build reports app.json errors
	}
	var names []string
	for _, b := range aj.Buildpacks {
		names = append(names, b.URL)
	}
	return names
}

// deployRelease starts rel in the idle slot, runs its release command,
// waits until its web processes are healthy, switches traffic to it and
// watches it. On failure the live release keeps serving.
func (dp *deployer) deployRelease(ctx context.Context, app api.App, rel api.Release, vars map[string]string, out io.Writer) error {
	slot, formation, err := dp.startIdle(ctx, app, rel, vars, out)
	if err != nil {
		return err
	}
	dp.switchTo(rel, slot, formation, out)
	return nil
}

// startIdle starts rel in the idle slot, runs its release command and
// waits until its web processes are healthy; it returns the slot and the
// formation. On failure rel is marked failed and the live release keeps
// serving. A canary running (canary.go) refuses it: it holds the idle slot.
func (dp *deployer) startIdle(ctx context.Context, app api.App, rel api.Release, vars map[string]string, out io.Writer) (string, scheduler.Formation, error) {
	cause := "other"
	fail := func(err error) (string, scheduler.Formation, error) {
		dp.markFailed(rel.App, rel.Version, err.Error())
		dp.metrics.deployEnded(rel.App, deployFailed, cause)
		return "", nil, err
	}
	if err := dp.refuseDuringCanary(rel.App); err != nil {
		return fail(err)
	}
	dp.events.addData(rel.App, api.EventDeployStarted, rel.CreatedBy, releaseData(rel, ""), "Deploy of v%d started (%s)", rel.Version, rel.Description)
	aj := readAppJSON(dp.dirs.slugPath(rel.SlugID))
	formation := initialFormation(app.Formation, rel.Processes, aj)
	slot := api.SlotBlue
	if app.LiveSlot != "" {
		slot = api.OtherSlot(app.LiveSlot)
	}
	if _, err := dp.store.UpdateRelease(rel.App, rel.Version, func(r *api.Release) error {
		r.Slot = slot
		return nil
	}); err != nil {
		return fail(err)
	}
	d, err := dp.deployment(app, rel, slot, vars, formation)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	err = dp.runReleaseCommand(ctx, rel, d, aj, out)
	if rel.Processes[procfile.ReleaseType] != "" || aj != nil && aj.Scripts.Dokku.Predeploy != "" {
		dp.metrics.phase(rel.App, "release_command", start)
	}
	if err != nil {
		cause = "release_command"
		return fail(&deployError{err})
	}
	// Whatever stood by in the idle slot is replaced now.
	if err := dp.dropStandby(rel.App); err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "-----> Starting v%d in the %s slot (%s)\n", rel.Version, slot, formationString(formation))
	start = time.Now()
	err = dp.sched.Deploy(ctx, d)
	dp.metrics.phase(rel.App, "start", start)
	if err != nil {
		// What did start, and what the scheduler would try again, goes.
		dp.stopSlot(rel.App, slot)
		cause = "start"
		return fail(startFailed(rel.Version, err, app.LiveRelease != 0))
	}
	start = time.Now()
	err = dp.waitHealthy(ctx, rel.App, slot, rel.Version, formation, aj, out)
	dp.metrics.phase(rel.App, "health_check", start)
	if err != nil {
		dp.stopSlot(rel.App, slot)
		cause = "health_check"
		return fail(&deployError{err})
	}
	return slot, formation, nil
}

// startFailed is the error of a release whose processes could not be
// started; live says whether a live release keeps serving.
func startFailed(version int, err error, live bool) error {
	err = fmt.Errorf("v%d could not be started: %w", version, err)
	if live {
		err = fmt.Errorf("%w; the live release keeps serving", err)
	}
	return &deployError{err}
}

func (dp *deployer) deployment(app api.App, rel api.Release, slot string, vars map[string]string, f scheduler.Formation) (scheduler.Deployment, error) {
	user, _, err := dp.identities(rel.App)
	if err != nil {
		return scheduler.Deployment{}, err
	}
	return scheduler.Deployment{
		User:       user,
		MemoryMB:   app.MemoryMB,
		App:        rel.App,
		Slot:       slot,
		Release:    rel.Version,
		Slug:       dp.dirs.slugPath(rel.SlugID),
		SlugSHA256: rel.SlugID,
		SlugURL:    dp.slugURL(rel.SlugID),
		Processes:  withoutRelease(rel.Processes),
		Formation:  f,
		Env:        releaseEnv(rel, vars),
	}, nil
}

// releaseEnv is the environment of rel's processes: its config vars and
// the release's metadata, as Heroku's dyno metadata gives it, so that an
// error tracker tags its reports with no set-up. SENTRY_RELEASE is the
// commit unless the app sets its own. A rollback's or a config change's
// release carries the commit of the slug it runs.
func releaseEnv(rel api.Release, vars map[string]string) map[string]string {
	env := make(map[string]string, len(vars)+4)
	maps.Copy(env, vars)
	env["PIER_RELEASE_CREATED_AT"] = rel.CreatedAt.UTC().Format(time.RFC3339)
	if rel.Commit != "" {
		env["SOURCE_VERSION"] = rel.Commit
		env["PIER_COMMIT"] = rel.Commit
		if _, ok := vars["SENTRY_RELEASE"]; !ok {
			env["SENTRY_RELEASE"] = rel.Commit
		}
	}
	return env
}

// runReleaseCommand runs the Procfile's release process (or app.json's
// predeploy script) once, before the release starts.
func (dp *deployer) runReleaseCommand(ctx context.Context, rel api.Release, d scheduler.Deployment, aj *procfile.AppJSON, out io.Writer) error {
	cmd := rel.Processes[procfile.ReleaseType]
	if cmd == "" && aj != nil {
		cmd = aj.Scripts.Dokku.Predeploy
	}
	if cmd == "" {
		return nil
	}
	fmt.Fprintf(out, "-----> Running release command: %s\n", cmd)
	lw := newIndentWriter(out)
	code, err := dp.sched.Run(ctx, d.App, scheduler.OneOff{
		Deployment: d,
		Command:    cmd,
		Output:     lw,
		Timeout:    dp.cfg.ReleaseTimeout,
	})
	lw.Flush()
	switch {
	case err != nil:
		return fmt.Errorf("release command failed: %w", err)
	case code != 0:
		return fmt.Errorf("release command %q exited with status %d; the deploy stopped and the live release keeps serving", cmd, code)
	}
	return nil
}

// switchTo makes slot, which runs rel, the live slot in one step, keeps the
// old slot as standby and starts watching rel.
func (dp *deployer) switchTo(rel api.Release, slot string, f scheduler.Formation, out io.Writer) {
	var old api.App
	now := time.Now()
	app, err := dp.store.UpdateApp(rel.App, func(x *api.App) error {
		old = *x
		x.LiveSlot, x.LiveRelease = slot, rel.Version
		x.Processes, x.Buildpack = withoutRelease(rel.Processes), rel.Buildpack
		x.Formation = f
		x.Canary = nil // a promoted canary ends in the same step
		if old.LiveRelease != 0 && old.LiveSlot != slot {
			x.StandbyRelease = old.LiveRelease
			x.StandbyUntil = now.Add(dp.standbyWindow(old))
		}
		return nil
	})
	if err != nil {
		dp.logf("switching %s to v%d: %v", rel.App, rel.Version, err)
		return
	}
	dp.routes.refreshRoutes()
	dp.setStatus(rel.App, rel.Version, api.StatusLive, "")
	if old.LiveRelease != 0 && old.LiveSlot != slot {
		dp.setStatus(rel.App, old.LiveRelease, api.StatusStandby, "")
		dp.trimStandby(rel.App, old.LiveSlot, old.Formation)
	}
	fmt.Fprintf(out, "-----> Released v%d: traffic switched to the %s slot\n", rel.Version, slot)
	fmt.Fprintf(out, "       %s deployed to pier\n", dp.cfg.webURL(rel.App))
	dp.events.addData(rel.App, api.EventDeploySucceeded, rel.CreatedBy, releaseData(rel, slot), "Release v%d is live (%s) in the %s slot", rel.Version, rel.Description, slot)
	if old.LiveRelease != 0 && old.LiveSlot != slot {
		dp.startWatch(app, rel, slot)
	}
}
