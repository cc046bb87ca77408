package agent

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/procfile"
	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/scheduler"
)

// healthDeadline bounds how long a release may take to become healthy when
// app.json does not say.
const healthDeadline = 90 * time.Second

// webCheck turns app.json's first web check into the proxy's health check.
func webCheck(aj *procfile.AppJSON) (proxy.HealthCheck, procfile.Healthcheck) {
	hcs := aj.WebHealthchecks()
	if len(hcs) == 0 {
		return proxy.HealthCheck{Path: "/", Timeout: 5 * time.Second}, procfile.Healthcheck{}
	}
	h := hcs[0]
	path := h.Path
	if path == "" {
		path = "/"
	}
	return proxy.HealthCheck{Path: path, Content: h.Content, Timeout: h.TimeoutDuration()}, h
}

// waitHealthy waits until every web instance of release in slot passes its
// health check, and fails fast when one crashes.
func (dp *deployer) waitHealthy(ctx context.Context, app, slot string, release int, f scheduler.Formation, aj *procfile.AppJSON, out io.Writer) error {
	hc, spec := webCheck(aj)
	deadline := healthDeadline
	if spec.Attempts > 0 {
		deadline = time.Duration(spec.InitialDelay)*time.Second +
			time.Duration(spec.Attempts)*(spec.TimeoutDuration()+spec.WaitDuration()) + 10*time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	if spec.InitialDelay > 0 {
		if err := sleep(ctx, time.Duration(spec.InitialDelay)*time.Second); err != nil {
			return fmt.Errorf("waiting for the health check's initial delay: %w", err)
		}
	}
	want := f["web"]
	passed := map[string]bool{}
	var lastErr error
	failures := 0
	for {
		roundErr := error(nil)
		insts, err := dp.slotInstances(ctx, app, slot, release)
		if err != nil {
			return err
		}
		for _, in := range insts {
			if in.State == "crashed" || in.Restarts > 0 {
				return fmt.Errorf("%s crashed while starting (see `pier logs -a %s -p %s`); the live release keeps serving", in.Name(), app, in.Type)
			}
			if in.Type != "web" || passed[in.Name()] || in.Addr == "" || in.State != "up" {
				continue
			}
			cctx, ccancel := context.WithTimeout(ctx, hc.Timeout)
			err := dp.health.Check(cctx, candidateOf(in), hc)
			ccancel()
			if err != nil {
				lastErr, roundErr = err, err
				continue
			}
			passed[in.Name()] = true
			fmt.Fprintf(out, "       %s is healthy (GET %s)\n", in.Name(), hc.Path)
		}
		if len(passed) >= want {
			return nil
		}
		if roundErr != nil {
			failures++
		}
		if spec.Attempts > 0 && failures >= spec.Attempts {
			return fmt.Errorf("health check failed %d times: %v; the live release keeps serving", failures, lastErr)
		}
		wait := 200 * time.Millisecond
		if roundErr != nil && spec.Wait > 0 {
			wait = spec.WaitDuration()
		}
		if err := sleep(ctx, wait); err != nil {
			if lastErr != nil {
				return fmt.Errorf("no healthy web process within %s: %v; the live release keeps serving", deadline, lastErr)
			}
			return fmt.Errorf("web processes did not come up within %s (%d of %d healthy); the live release keeps serving", deadline, len(passed), want)
		}
	}
}

// vetSlot health-checks the web instances of a slot that runs release, so
// the edge routes them as soon as the slot is live.
func (dp *deployer) vetSlot(ctx context.Context, app string, insts []scheduler.Instance, release int) error {
	var slug string
	if r, err := dp.store.GetRelease(app, release); err == nil && r.SlugID != "" {
		slug = dp.dirs.slugPath(r.SlugID)
	}
	hc, _ := webCheck(readAppJSON(slug))
	for _, in := range insts {
		if in.Type != "web" || in.State != api.StateUp {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, hc.Timeout)
		err := dp.health.Check(cctx, candidateOf(in), hc)
		cancel()
		if err != nil {
			return fmt.Errorf("%s of the %s slot is not healthy: %w", in.Name(), in.Slot, err)
		}
	}
	return nil
}

// slotInstances lists the instances of release running in slot.
func (dp *deployer) slotInstances(ctx context.Context, app, slot string, release int) ([]scheduler.Instance, error) {
	all, err := dp.sched.Instances(ctx, app)
	if err != nil {
		return nil, fmt.Errorf("listing instances of %s: %w", app, err)
	}
	var out []scheduler.Instance
	for _, in := range all {
		if in.Slot == slot && (release == 0 || in.Release == release) {
			out = append(out, in)
		}
	}
	return out, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
