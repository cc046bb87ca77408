package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/procfile"
	"github.com/pierhq/pier/scheduler"
)

// pushRequest is one `git push`: the pushed tree as a tar stream.
type pushRequest struct {
	App    string
	Commit string
	Ref    string // refs/heads/main
	Old    string // the ref's value the push was made against
	User   string
	Tar    io.Reader
}

// pushDeploy builds the pushed tree and deploys it as a new release.
func (a *Agent) pushDeploy(ctx context.Context, p pushRequest, out io.Writer) error {
	// The pushed tree is read whole before waiting for another deploy:
	// left unread, its upload stalls and breaks.
	src, err := os.MkdirTemp(a.dirs.tmp, "src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	if err := extractTar(p.Tar, src); err != nil {
		return err
	}
	unlock, err := a.lockApp(ctx, p.App, out)
	if err != nil {
		return err
	}
	deployed := false
	defer func() {
		if deployed && p.Ref != "" {
			a.unlockWhenRefMoves(p.App, p.Ref, p.Commit, unlock)
			return
		}
		unlock()
	}()
	// git updates the branch only if it still points where it did when the
	// push began; a push that waited for another one finds it moved.
	old := p.Old
	if old == zeroRev {
		old = ""
	}
	if p.Ref != "" && a.git.Rev(p.App, p.Ref) != old {
		return fmt.Errorf("%s moved while this push waited: another push landed first.\nFetch, check what is deployed, and push again", strings.TrimPrefix(p.Ref, "refs/heads/"))
	}
	vars, err := a.store.Config(p.App)
	if err != nil {
		return err
	}
	_, builder, err := a.identities(p.App)
	if err != nil {
		return err
	}
	short := shortCommit(p.Commit)
	fmt.Fprintf(out, "-----> Building %s from commit %s\n", p.App, short)
	a.event(p.App, "build", p.User, "Build started for commit %s", short)
	res, err := a.builder.Build(ctx, buildpacks.Options{
		App:        p.App,
		SourceDir:  src,
		Env:        vars,
		Buildpacks: a.chosenBuildpacks(src, vars),
		User:       builder,
	}, out)
	if err != nil {
		a.event(p.App, "build", p.User, "Build failed for commit %s: %v", short, err)
		return fmt.Errorf("build failed: %w", err)
	}
	if err := writeAppJSON(res.SlugPath, res.AppJSON); err != nil {
		return err
	}
	fmt.Fprintf(out, "-----> Compressed slug: %s\n", humanBytes(res.SlugSize))
	rel, err := a.store.CreateRelease(api.Release{
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
	if err := a.deployRelease(ctx, rel, vars, out); err != nil {
		return err
	}
	deployed = true
	return nil
}

// unlockWhenRefMoves keeps app's lock until git has moved ref to commit,
// which it does only after the hook has answered, so that the next push
// compares against the branch as it really is.
func (a *Agent) unlockWhenRefMoves(app, ref, commit string, unlock func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer unlock()
		ctx, cancel := context.WithTimeout(a.ctx, 30*time.Second)
		defer cancel()
		for a.git.Rev(app, ref) != commit {
			if sleep(ctx, 50*time.Millisecond) != nil {
				return
			}
		}
	}()
}

// chosenBuildpacks returns the buildpacks the app names: the BUILDPACK
// config var, else app.json's buildpacks; none means detect.
func (a *Agent) chosenBuildpacks(src string, vars map[string]string) []string {
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
func (a *Agent) deployRelease(ctx context.Context, rel api.Release, vars map[string]string, out io.Writer) error {
	fail := func(err error) error {
		a.markFailed(rel.App, rel.Version, err.Error())
		return err
	}
	app, err := a.store.GetApp(rel.App)
	if err != nil {
		return fail(err)
	}
	aj := readAppJSON(a.slugPath(rel.SlugID))
	formation := initialFormation(app.Formation, rel.Processes, aj)
	slot := api.SlotBlue
	if app.LiveSlot != "" {
		slot = api.OtherSlot(app.LiveSlot)
	}
	if _, err := a.store.UpdateRelease(rel.App, rel.Version, func(r *api.Release) error {
		r.Slot = slot
		return nil
	}); err != nil {
		return fail(err)
	}
	d, err := a.deployment(rel, slot, vars, formation)
	if err != nil {
		return fail(err)
	}
	if err := a.runReleaseCommand(ctx, d, aj, out); err != nil {
		return fail(&deployError{err})
	}
	// Whatever stood by in the idle slot is replaced now.
	if err := a.dropStandby(rel.App); err != nil {
		return fail(err)
	}
	fmt.Fprintf(out, "-----> Starting v%d in the %s slot (%s)\n", rel.Version, slot, formationString(formation))
	if err := a.sched.Deploy(ctx, d); err != nil {
		// What did start, and what the scheduler would try again, goes.
		a.stopSlot(rel.App, slot)
		return fail(startFailed(rel.Version, err, app.LiveRelease != 0))
	}
	if err := a.waitHealthy(ctx, rel.App, slot, rel.Version, formation, aj, out); err != nil {
		a.stopSlot(rel.App, slot)
		return fail(&deployError{err})
	}
	a.switchTo(rel, slot, formation, out)
	return nil
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

func (a *Agent) deployment(rel api.Release, slot string, vars map[string]string, f scheduler.Formation) (scheduler.Deployment, error) {
	var mem map[string]int
	if app, err := a.store.GetApp(rel.App); err == nil {
		mem = app.MemoryMB
	}
	user, _, err := a.identities(rel.App)
	if err != nil {
		return scheduler.Deployment{}, err
	}
	return scheduler.Deployment{
		User:       user,
		MemoryMB:   mem,
		App:        rel.App,
		Slot:       slot,
		Release:    rel.Version,
		Slug:       a.slugPath(rel.SlugID),
		SlugSHA256: rel.SlugID,
		SlugURL:    a.slugURL(rel.SlugID),
		Processes:  withoutRelease(rel.Processes),
		Formation:  f,
		Env:        vars,
	}, nil
}

// runReleaseCommand runs the Procfile's release process (or app.json's
// predeploy script) once, before the release starts.
func (a *Agent) runReleaseCommand(ctx context.Context, d scheduler.Deployment, aj *procfile.AppJSON, out io.Writer) error {
	rel, _ := a.store.GetRelease(d.App, d.Release)
	cmd := rel.Processes[procfile.ReleaseType]
	if cmd == "" && aj != nil {
		cmd = aj.Scripts.Dokku.Predeploy
	}
	if cmd == "" {
		return nil
	}
	fmt.Fprintf(out, "-----> Running release command: %s\n", cmd)
	lw := newIndentWriter(out)
	code, err := a.sched.Run(ctx, d.App, scheduler.OneOff{
		Deployment: d,
		Command:    cmd,
		Output:     lw,
		Timeout:    a.cfg.ReleaseTimeout,
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
func (a *Agent) switchTo(rel api.Release, slot string, f scheduler.Formation, out io.Writer) {
	var old api.App
	now := time.Now()
	app, err := a.store.UpdateApp(rel.App, func(x *api.App) error {
		old = *x
		x.LiveSlot, x.LiveRelease = slot, rel.Version
		x.Processes, x.Buildpack = withoutRelease(rel.Processes), rel.Buildpack
		x.Formation = f
		if old.LiveRelease != 0 && old.LiveSlot != slot {
			x.StandbyRelease = old.LiveRelease
			x.StandbyUntil = now.Add(a.standbyWindow(old))
		}
		return nil
	})
	if err != nil {
		a.logf("switching %s to v%d: %v", rel.App, rel.Version, err)
		return
	}
	a.refreshRoutes()
	a.setStatus(rel.App, rel.Version, api.StatusLive, "")
	if old.LiveRelease != 0 && old.LiveSlot != slot {
		a.setStatus(rel.App, old.LiveRelease, api.StatusStandby, "")
		a.trimStandby(rel.App, old.LiveSlot, old.Formation)
	}
	fmt.Fprintf(out, "-----> Released v%d: traffic switched to the %s slot\n", rel.Version, slot)
	fmt.Fprintf(out, "       %s deployed to pier\n", a.webURL(rel.App))
	a.event(rel.App, "release", rel.CreatedBy, "Release v%d is live (%s) in the %s slot", rel.Version, rel.Description, slot)
	if old.LiveRelease != 0 && old.LiveSlot != slot {
		a.startWatch(app, rel, slot)
	}
}

// trimStandby stops the standby slot's non-web processes: only its web
// processes stay warm for an instant rollback.
func (a *Agent) trimStandby(app, slot string, f map[string]int) {
	trim := scheduler.Formation{}
	for t := range f {
		if t != "web" {
			trim[t] = 0
		}
	}
	if len(trim) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(a.ctx, time.Minute)
	defer cancel()
	if err := a.sched.Scale(ctx, app, slot, trim); err != nil && !errors.Is(err, scheduler.ErrNotFound) {
		a.logf("stopping the standby's other processes of %s: %v", app, err)
	}
}

// dropStandby forgets the app's standby release; its slot is about to be
// reused or stopped.
func (a *Agent) dropStandby(app string) error {
	var standby int
	_, err := a.store.UpdateApp(app, func(x *api.App) error {
		standby = x.StandbyRelease
		x.StandbyRelease, x.StandbyUntil = 0, time.Time{}
		return nil
	})
	if err == nil && standby != 0 {
		a.setStatus(app, standby, api.StatusSuperseded, "")
	}
	return err
}

func (a *Agent) stopSlot(app, slot string) {
	ctx, cancel := context.WithTimeout(a.ctx, time.Minute)
	defer cancel()
	if err := a.sched.Stop(ctx, app, slot); err != nil && !errors.Is(err, scheduler.ErrNotFound) {
		a.logf("stopping %s slot of %s: %v", slot, app, err)
	}
	a.refreshRoutes()
}

func (a *Agent) standbyWindow(app api.App) time.Duration {
	if app.StandbyWindow > 0 {
		return time.Duration(app.StandbyWindow)
	}
	return a.cfg.StandbyWindow
}

func (a *Agent) markFailed(app string, version int, reason string) {
	a.setStatus(app, version, api.StatusFailed, reason)
	a.event(app, "deploy", "", "Deploy of v%d failed: %s", version, reason)
}

func (a *Agent) setStatus(app string, version int, status, reason string) {
	_, err := a.store.UpdateRelease(app, version, func(r *api.Release) error {
		r.Status = status
		if reason != "" {
			r.Reason = reason
		}
		return nil
	})
	if err != nil {
		a.logf("marking v%d of %s %s: %v", version, app, status, err)
	}
}

// initialFormation is the formation a release starts with: the app's
// current counts, app.json's for types it has none for, and web=1 for a web
// process never scaled.
func initialFormation(current map[string]int, procs map[string]string, aj *procfile.AppJSON) scheduler.Formation {
	f := scheduler.Formation{}
	for t := range procs {
		if t == procfile.ReleaseType {
			continue
		}
		if n, ok := current[t]; ok {
			f[t] = n
			continue
		}
		if aj != nil {
			if e, ok := aj.Formation[t]; ok && e.Quantity != nil {
				f[t] = *e.Quantity
				continue
			}
		}
		if t == "web" {
			f[t] = 1
		} else {
			f[t] = 0
		}
	}
	return f
}

func withoutRelease(procs map[string]string) map[string]string {
	m := make(map[string]string, len(procs))
	for t, c := range procs {
		if t != procfile.ReleaseType {
			m[t] = c
		}
	}
	return m
}

func formationString(f scheduler.Formation) string {
	var parts []string
	for _, t := range procfile.Types(toStringMap(f)) {
		parts = append(parts, fmt.Sprintf("%s=%d", t, f[t]))
	}
	if len(parts) == 0 {
		return "no processes"
	}
	return strings.Join(parts, " ")
}

func toStringMap(f map[string]int) map[string]string {
	m := make(map[string]string, len(f))
	for k := range f {
		m[k] = ""
	}
	return m
}

func shortCommit(c string) string {
	if len(c) > 7 {
		return c[:7]
	}
	return c
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
