package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/pierhq/pier/api"
)

// The canary's runner: one goroutine per running canary that checks each
// step at its end and moves the canary on, promotes it, or aborts it.

// canaryEnd is how a canary ends.
type canaryEnd int

const (
	canaryPromote canaryEnd = iota
	canaryFail              // its analysis failed or it crashed
	canaryAbort             // by hand, a rollback, or a restart that found it gone
)

// runCanary starts the runner of app's canary of release, unless one runs.
func (dp *deployer) runCanary(app string, release int) {
	ctx, cancel := context.WithCancel(dp.ctx)
	dp.track(dp.canaries, app, ctx, cancel, func(ctx context.Context) { dp.canaryLoop(ctx, app, release) })
}

// canaryWindow is the runner's view of the current step's window.
type canaryWindow struct {
	since     time.Time // the Canary's StepSince it belongs to
	base      map[trafficKey]*trafficCounts
	nextCheck time.Time
}

func (dp *deployer) canaryLoop(ctx context.Context, app string, release int) {
	var win canaryWindow
	var restarts map[string]int // of the canary's instances when the runner began
	t := time.NewTicker(canaryTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a, err := dp.store.GetApp(app)
		if err != nil || a.Canary == nil || a.Canary.Release != release {
			return // ended by an action, or the app is gone
		}
		c := a.Canary
		if insts, err := dp.slotInstances(ctx, app, c.Slot, release); err == nil && restarts == nil {
			restarts = map[string]int{}
			for _, in := range insts {
				restarts[in.Name()] = in.Restarts
			}
		} else if err == nil {
			if why := crashed(insts, restarts); why != "" {
				dp.endCanary(app, release, canaryFail, why, nil)
				return
			}
		}
		if c.State == api.CanaryPaused || c.State == api.CanarySplit {
			continue
		}
		now := time.Now()
		if !win.since.Equal(c.StepSince) || win.base == nil {
			win = canaryWindow{since: c.StepSince, base: dp.counts(), nextCheck: now.Add(time.Duration(c.Interval))}
			continue
		}
		if now.Before(win.nextCheck) {
			continue
		}
		if done := dp.checkCanary(app, a, &win, now); done {
			return
		}
	}
}

// checkCanary judges the step's window so far and acts on the verdict; it
// reports whether the canary ended.
func (dp *deployer) checkCanary(app string, a api.App, win *canaryWindow, now time.Time) bool {
	c := a.Canary
	cur := dp.counts()
	check := api.CanaryCheck{At: now, Step: c.Step, Weight: c.Weight(),
		Canary: numbersBetween(c.Release, countsOf(win.base, app, c.Release), countsOf(cur, app, c.Release)),
		Live:   numbersBetween(a.LiveRelease, countsOf(win.base, app, a.LiveRelease), countsOf(cur, app, a.LiveRelease)),
	}
	th := thresholds(a.CanarySettings)
	check.Verdict, check.Reason = judge(th, check.Canary, check.Live, c.Baseline)
	var end canaryEnd = -1
	next := c.Step
	updated, err := dp.store.UpdateApp(app, func(x *api.App) error {
		if x.Canary == nil || x.Canary.Release != c.Release || x.Canary.Step != c.Step {
			return errCanaryMoved
		}
		k := x.Canary
		k.Checks++
		k.Last = &check
		switch check.Verdict {
		case api.CheckInconclusive:
			return nil // the window grows until the canary has its requests
		case api.CheckFailed:
			k.Failures++
			k.FailuresInRow++
			if k.Failures >= th.MaxFailures || k.FailuresInRow >= th.MaxFailuresRow {
				end = canaryFail
				return nil
			}
		case api.CheckPassed:
			k.FailuresInRow = 0
			if check.Live.Requests >= float64(th.MinRequests) {
				live := check.Live
				k.Baseline = &live
			}
			if k.Step == len(k.Steps)-1 {
				end = canaryPromote
				return nil
			}
			k.Step++
			next = k.Step
		}
		k.StepSince = now
		return nil
	})
	if err != nil {
		if err != errCanaryMoved {
			dp.logf("recording the check of canary v%d of %s: %v", c.Release, app, err)
		}
		return false
	}
	switch {
	case end == canaryFail:
		dp.endCanary(app, c.Release, canaryFail, check.Reason, &check)
		return true
	case end == canaryPromote:
		dp.endCanary(app, c.Release, canaryPromote, "", &check)
		return true
	case check.Verdict == api.CheckInconclusive:
		win.nextCheck = now.Add(time.Duration(c.Interval))
		return false
	}
	win.since, win.base, win.nextCheck = updated.Canary.StepSince, cur, now.Add(time.Duration(c.Interval))
	if next != c.Step {
		dp.routes.refreshRoutes()
		dp.events.addData(app, api.EventCanaryStep, "", checkData(&check, c.Release), "Canary v%d passed %d%% and now has %d%% of traffic",
			c.Release, check.Weight, updated.Canary.Weight())
	}
	return false
}

var errCanaryMoved = fmt.Errorf("the canary moved on meanwhile")

// checkData are an event's numbers of a check.
func checkData(check *api.CanaryCheck, release int) api.EventData {
	d := api.EventData{"release": releaseName(release)}
	if check == nil {
		return d
	}
	d["weight"] = fmt.Sprint(check.Weight)
	d["canary_requests"] = fmt.Sprintf("%.0f", check.Canary.Requests)
	d["canary_success_pct"] = pct(check.Canary.Success)
	d["canary_p95"] = ms(check.Canary.P95)
	d["canary_p99"] = ms(check.Canary.P99)
	d["live_requests"] = fmt.Sprintf("%.0f", check.Live.Requests)
	d["live_success_pct"] = pct(check.Live.Success)
	d["live_p95"] = ms(check.Live.P95)
	d["live_p99"] = ms(check.Live.P99)
	if check.Reason != "" {
		d["reason"] = check.Reason
	}
	return d
}

// endCanary ends app's canary of release under the app's lock; a canary
// that already ended is left alone.
func (dp *deployer) endCanary(app string, release int, how canaryEnd, why string, check *api.CanaryCheck) {
	unlock, err := dp.lockApp(dp.ctx, app, discard{})
	if err != nil {
		return
	}
	defer unlock()
	dp.endCanaryLocked(app, release, how, why, check)
}

// endCanaryLocked ends the canary with the app's lock held: promoted, it
// becomes live as a deploy's switch makes it; failed or aborted, all
// traffic goes back to the live release in one step and its slot stops.
// It reports whether there was such a canary.
func (dp *deployer) endCanaryLocked(app string, release int, how canaryEnd, why string, check *api.CanaryCheck) bool {
	a, err := dp.store.GetApp(app)
	if err != nil || a.Canary == nil || a.Canary.Release != release {
		return false
	}
	c := a.Canary
	rel, err := dp.store.GetRelease(app, release)
	if err != nil {
		return false
	}
	if how == canaryPromote {
		dp.switchTo(rel, c.Slot, a.Formation, discard{})
		// The app's config is the live release's, as after a rollback.
		if vars, err := dp.store.ReleaseConfig(app, release); err != nil {
			dp.logf("reading the config of v%d of %s: %v", release, app, err)
		} else if err := dp.store.SetConfig(app, vars); err != nil {
			dp.logf("setting the config of v%d of %s: %v", release, app, err)
		}
		dp.events.addData(app, api.EventCanaryPromoted, "", checkData(check, release), "Canary v%d passed every step and is live", release)
		return true
	}
	if _, err := dp.store.UpdateApp(app, func(x *api.App) error {
		x.Canary = nil
		return nil
	}); err != nil {
		dp.logf("ending the canary of %s: %v", app, err)
		return false
	}
	dp.routes.refreshRoutes()
	typ, reason := api.EventCanaryFailed, "canary failed at "+fmt.Sprint(c.Weight())+"%: "+why
	if how == canaryAbort {
		typ, reason = api.EventCanaryAborted, "canary aborted at "+fmt.Sprint(c.Weight())+"%: "+why
	}
	status := api.StatusFailed
	if how == canaryAbort && c.State == api.CanarySplit {
		status, reason = api.StatusSuperseded, "A/B split at "+fmt.Sprint(c.Weight())+"% ended: "+why
	}
	dp.setStatus(app, release, status, reason)
	d := checkData(check, release)
	d["reason"] = reason
	dp.events.addData(app, typ, "", d, "v%d %s; all traffic is back on v%d", release, reason, a.LiveRelease)
	_ = sleep(dp.ctx, drainDelay)
	dp.stopSlot(app, c.Slot)
	return true
}

// abortCanary aborts app's canary by hand.
func (dp *deployer) abortCanary(ctx context.Context, app, user string) (api.CanaryStatus, error) {
	return dp.canaryAction(ctx, app, canaryAbort, "aborted by "+orSomeone(user))
}

// promoteCanary promotes app's canary now, whatever its step.
func (dp *deployer) promoteCanary(ctx context.Context, app, user string) (api.CanaryStatus, error) {
	return dp.canaryAction(ctx, app, canaryPromote, "promoted by "+orSomeone(user))
}

func (dp *deployer) canaryAction(ctx context.Context, app string, how canaryEnd, why string) (api.CanaryStatus, error) {
	unlock, err := dp.tryLockApp(ctx, app)
	if err != nil {
		return api.CanaryStatus{}, err
	}
	a, err := dp.store.GetApp(app)
	if err != nil {
		unlock()
		return api.CanaryStatus{}, err
	}
	if a.Canary == nil {
		unlock()
		return api.CanaryStatus{}, conflictf("no canary is running on %s", app)
	}
	release := a.Canary.Release
	dp.endCanaryLocked(app, release, how, why, a.Canary.Last)
	unlock()
	dp.stopCanaryRunner(app)
	st, err := dp.canaryStatus(app)
	verb := "promoted: it is live"
	if how != canaryPromote {
		verb = "aborted: all traffic is back on v" + fmt.Sprint(st.Live)
	}
	st.Message = fmt.Sprintf("canary v%d %s", release, verb)
	return st, err
}

// stopCanaryRunner ends app's runner, if any, and waits for it.
func (dp *deployer) stopCanaryRunner(app string) { dp.stopTracked(dp.canaries, app) }

func orSomeone(user string) string {
	if user == "" {
		return "hand"
	}
	return user
}

// resumeCanary picks app's canary up after the agent started: with its
// web processes up and healthy, the split and the step go on (the step's
// window starts again); otherwise it is aborted, all traffic on live.
func (dp *deployer) resumeCanary(ctx context.Context, a api.App) {
	c := a.Canary
	insts, err := dp.slotInstances(ctx, a.Name, c.Slot, c.Release)
	up := 0
	for _, in := range insts {
		if in.Type == "web" && in.State == api.StateUp {
			up++
		}
	}
	if err == nil && up > 0 {
		err = dp.vetSlot(ctx, a.Name, insts, c.Release)
	} else if err == nil {
		err = fmt.Errorf("none of its web processes runs")
	}
	if err != nil {
		dp.endCanary(a.Name, c.Release, canaryAbort, "the agent started again and the canary could not go on: "+err.Error(), nil)
		return
	}
	if _, err := dp.store.UpdateApp(a.Name, func(x *api.App) error {
		if x.Canary != nil && x.Canary.Release == c.Release {
			x.Canary.StepSince = time.Now()
		}
		return nil
	}); err != nil {
		dp.logf("resuming the canary of %s: %v", a.Name, err)
	}
	dp.routes.refreshRoutes()
	dp.logf("resuming canary v%d of %s at %d%%", c.Release, a.Name, c.Weight())
	dp.runCanary(a.Name, c.Release)
}
