package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// A canary: a release starts in the idle slot, passes its health gate, and
// then gets a growing share of the app's traffic in steps (the proxy's
// split, proxy/split.go), each judged on the proxy's own numbers against
// the live release (canary_analysis.go). A failed check aborts it, all
// traffic going back to live at once; the final step's pass promotes it,
// as a deploy's switch would. Its state is the app's Canary in the store,
// so that an agent that starts again resumes the split and the step.

// Bounds of a canary's plan.
const (
	minCanaryInterval = time.Second
	maxCanaryInterval = 24 * time.Hour
	maxCanarySteps    = 20
	canaryTick        = 250 * time.Millisecond
)

// canaryPlan checks the steps and interval of a request and fills in the
// defaults.
func canaryPlan(req api.CanaryRequest) ([]int, time.Duration, error) {
	steps := req.Steps
	if len(steps) == 0 {
		steps = api.DefaultCanarySteps
	}
	if req.Split {
		if len(req.Steps) != 1 || req.Steps[0] < 1 || req.Steps[0] > 99 {
			return nil, 0, invalidf("an A/B split takes one share from 1 to 99 percent, like --percent 10")
		}
		return slices.Clone(req.Steps), time.Duration(api.DefaultCanaryInterval), nil
	}
	if len(steps) > maxCanarySteps {
		return nil, 0, invalidf("%d steps: at most %d", len(steps), maxCanarySteps)
	}
	for i, s := range steps {
		if s < 1 || s > 100 {
			return nil, 0, invalidf("step %d%%: each step is a share from 1 to 100 percent", s)
		}
		if i > 0 && s <= steps[i-1] {
			return nil, 0, invalidf("steps %s: each step must be larger than the one before, like 5,25,50,100", stepsString(steps))
		}
	}
	if steps[len(steps)-1] != 100 {
		return nil, 0, invalidf("steps %s: the last step must be 100, where the canary is promoted", stepsString(steps))
	}
	interval := time.Duration(req.Interval)
	if interval == 0 {
		interval = time.Duration(api.DefaultCanaryInterval)
	}
	if interval < minCanaryInterval || interval > maxCanaryInterval {
		return nil, 0, invalidf("interval %s: from %s to %s, like 1m", interval, minCanaryInterval, maxCanaryInterval)
	}
	return slices.Clone(steps), interval, nil
}

func stepsString(steps []int) string {
	s := make([]string, len(steps))
	for i, n := range steps {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

// refuseDuringCanary refuses an operation that needs the idle slot while a
// canary holds it.
func (dp *deployer) refuseDuringCanary(app string) error {
	a, err := dp.store.GetApp(app)
	if err != nil || a.Canary == nil {
		return err
	}
	return conflictf("a canary of v%d is running on %s: promote or abort it first (pier canary promote|abort -a %s)", a.Canary.Release, app, app)
}

// startCanary makes a new release of version's slug and config (0: the
// newest release that is not live) and starts it as a canary. A deploy in
// progress or a canary already running refuses it.
func (dp *deployer) startCanary(ctx context.Context, name string, req api.CanaryRequest, user string, out io.Writer) (api.CanaryStatus, error) {
	steps, interval, err := canaryPlan(req)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	unlock, err := dp.tryLockApp(ctx, name)
	if errors.Is(err, errBusy) {
		return api.CanaryStatus{}, fmt.Errorf("%w: another deploy of %s is in progress; start the canary when it is done (see `pier releases -a %s`)", errBusy, name, name)
	}
	if err != nil {
		return api.CanaryStatus{}, err
	}
	defer unlock()
	app, err := dp.store.GetApp(name)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	if err := dp.refuseDuringCanary(name); err != nil {
		return api.CanaryStatus{}, err
	}
	if app.LiveRelease == 0 {
		return api.CanaryStatus{}, conflictf("%s has no live release to compare a canary with: deploy it first", name)
	}
	target, err := dp.canaryTarget(app, req.Release)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	vars, err := dp.store.ReleaseConfig(name, target.Version)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	desc := fmt.Sprintf("Canary of v%d", target.Version)
	if req.Split {
		desc = fmt.Sprintf("A/B split of v%d", target.Version)
	}
	rel, err := dp.releaseOfBuild(target, desc, user, vars)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	return dp.launchCanary(ctx, app, rel, vars, canaryRun{steps, interval, req.Split}, out)
}

// canaryRun is how a canary goes: its steps and interval, or a held split.
type canaryRun struct {
	steps    []int
	interval time.Duration
	split    bool
}

// pushCanary starts a pushed release as a canary with the app's plan (the
// canary.* settings); the app's lock is held.
func (dp *deployer) pushCanary(ctx context.Context, app api.App, rel api.Release, vars map[string]string, out io.Writer) error {
	steps, interval, err := canaryPlan(api.CanaryRequest{Steps: app.CanarySettings.Steps, Interval: app.CanarySettings.Interval})
	if err != nil {
		dp.markFailed(rel.App, rel.Version, err.Error())
		return err
	}
	_, err = dp.launchCanary(ctx, app, rel, vars, canaryRun{steps, interval, false}, out)
	return err
}

// canaryTarget is the release whose slug a canary runs.
func (dp *deployer) canaryTarget(app api.App, version int) (api.Release, error) {
	if version == 0 {
		rels, err := dp.store.ListReleases(app.Name)
		if err != nil {
			return api.Release{}, err
		}
		for _, r := range rels { // newest first
			if r.Version != app.LiveRelease && r.SlugID != "" {
				version = r.Version
				break
			}
		}
		if version == 0 {
			return api.Release{}, conflictf("%s has no release besides the live one: push one, or name it (pier canary start -a %s vN)", app.Name, app.Name)
		}
	}
	if version == app.LiveRelease {
		return api.Release{}, conflictf("v%d is live already; a canary runs another release", version)
	}
	r, err := dp.store.GetRelease(app.Name, version)
	if err != nil {
		return api.Release{}, notFoundf("%s has no release v%d: see `pier releases -a %s`", app.Name, version, app.Name)
	}
	if r.SlugID == "" {
		return api.Release{}, conflictf("v%d has no build to run", version)
	}
	if _, err := os.Stat(dp.dirs.slugPath(r.SlugID)); err != nil {
		return api.Release{}, conflictf("the slug of v%d is no longer kept; deploy that commit again instead", version)
	}
	return r, nil
}

// launchCanary starts rel in the idle slot behind its health gate, then
// gives it the first step's share and starts its analysis. The app's lock
// is held.
func (dp *deployer) launchCanary(ctx context.Context, app api.App, rel api.Release, vars map[string]string, run canaryRun, out io.Writer) (api.CanaryStatus, error) {
	steps, interval := run.steps, run.interval
	slot, _, err := dp.startIdle(ctx, app, rel, vars, out)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	now := time.Now()
	c := &api.Canary{Release: rel.Version, Slot: slot, Steps: steps, Interval: api.Duration(interval),
		State: api.CanaryRunning, StartedAt: now, StartedBy: rel.CreatedBy, StepSince: now}
	if run.split {
		c.State = api.CanarySplit
	}
	updated, err := dp.store.UpdateApp(rel.App, func(x *api.App) error {
		if x.Canary != nil {
			return conflictf("a canary of v%d started meanwhile", x.Canary.Release)
		}
		x.Canary = c
		return nil
	})
	if err != nil {
		dp.stopSlot(rel.App, slot)
		dp.markFailed(rel.App, rel.Version, err.Error())
		return api.CanaryStatus{}, err
	}
	dp.setStatus(rel.App, rel.Version, api.StatusCanary, "")
	dp.routes.refreshRoutes()
	plan := fmt.Sprintf("steps %s every %s", stepsString(steps), interval)
	if run.split {
		plan = "held as an A/B split, with no analysis"
	}
	fmt.Fprintf(out, "-----> Canary v%d started in the %s slot: %d%% of traffic, %s\n", rel.Version, slot, c.Weight(), plan)
	dp.events.addData(rel.App, api.EventCanaryStarted, rel.CreatedBy, api.EventData{
		"release": releaseName(rel.Version), "steps": stepsString(steps), "interval": interval.String(), "live": releaseName(app.LiveRelease),
	}, "Canary v%d started: %d%% of traffic, %s", rel.Version, c.Weight(), plan)
	dp.runCanary(rel.App, rel.Version)
	return api.CanaryStatus{App: rel.App, Canary: updated.Canary, Live: updated.LiveRelease}, nil
}

// canaryStatus is what `pier canary status` shows.
func (dp *deployer) canaryStatus(name string) (api.CanaryStatus, error) {
	app, err := dp.store.GetApp(name)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	st := api.CanaryStatus{App: name, Canary: app.Canary, Live: app.LiveRelease}
	if app.Canary == nil {
		st.Message = "no canary is running on " + name
	}
	return st, nil
}

// pauseCanary holds the canary's share and stops its checks (on false:
// resumes them, with a new window for the step).
func (dp *deployer) pauseCanary(name string, pause bool) (api.CanaryStatus, error) {
	app, err := dp.store.UpdateApp(name, func(x *api.App) error {
		if x.Canary == nil {
			return conflictf("no canary is running on %s", name)
		}
		if x.Canary.State == api.CanarySplit {
			return conflictf("v%d is an A/B split: it has no checks to pause or resume; promote or abort it", x.Canary.Release)
		}
		if pause {
			x.Canary.State = api.CanaryPaused
		} else if x.Canary.State == api.CanaryPaused {
			x.Canary.State = api.CanaryRunning
			x.Canary.StepSince = time.Now()
		}
		return nil
	})
	if err != nil {
		return api.CanaryStatus{}, err
	}
	verb := "resumed"
	if pause {
		verb = "paused"
	}
	return api.CanaryStatus{App: name, Canary: app.Canary, Live: app.LiveRelease,
		Message: fmt.Sprintf("canary v%d %s at %d%%", app.Canary.Release, verb, app.Canary.Weight())}, nil
}
