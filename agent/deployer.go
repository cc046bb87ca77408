package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pierhq/pier/agent/gitserver"
	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/procfile"
	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/proxy/certs"
	"github.com/pierhq/pier/sandbox"
	"github.com/pierhq/pier/scheduler"
)

// deployer is the only writer of desired state. It runs the deploy
// pipeline (build → release → health gate → switch → watch, in deploy.go,
// health.go and watch.go) and the operations on an app, one file each:
// rollback.go, configvars.go, scale.go, restart.go, destroy.go; and it
// brings the store and what runs together after a start (reconcile.go).
// It holds the parts it needs, not the agent: the agent holds it.
type deployer struct {
	cfg     Config
	dirs    dirs
	store   *store.Store
	sched   scheduler.Scheduler
	builder *buildpacks.Builder
	git     *gitserver.Server
	routes  routePublisher
	health  healthChecker
	traffic trafficStats
	certs   *certs.Manager // nil while HTTPS is off
	events  *eventLog
	logs    *logbook
	logf    func(format string, args ...any)
	// identities are the users an app runs and builds as.
	identities func(app string) (run, build sandbox.Identity, err error)
	// slugURL is where a remote scheduler's hosts fetch a slug, or "".
	slugURL func(slugID string) string
	metrics *platformMetrics // nil counts nothing
	// counts reads the proxy's cumulative counters per app and release:
	// a canary's analysis compares two readings.
	counts func() map[trafficKey]*trafficCounts

	ctx context.Context // the agent's lifetime
	wg  *sync.WaitGroup // the agent's goroutines, waited for at close

	mu       sync.Mutex
	locks    map[string]chan struct{}
	watches  map[string]*watch
	canaries map[string]*watch // the runners of running canaries (canary_run.go)
}

// routePublisher is what the deployer needs of the route table: publish it
// again from the store and what runs (it returns once the edge serves it),
// and take instances about to stop out of rotation.
type routePublisher interface {
	refreshRoutes()
	setDraining(in scheduler.Instance, on bool)
}

// healthChecker runs the edge's health check of an instance; one that
// passes may join its route from then on.
type healthChecker interface {
	Check(ctx context.Context, c proxy.Candidate, hc proxy.HealthCheck) error
}

// trafficStats counts what the proxy routed to each slot of an app; the
// watch window reads it.
type trafficStats interface {
	Stats(app string) map[string]proxy.Counters
}

// trimStandby stops the standby slot's non-web processes: only its web
// processes stay warm for an instant rollback.
func (dp *deployer) trimStandby(app, slot string, f map[string]int) {
	trim := scheduler.Formation{}
	for t := range f {
		if t != "web" {
			trim[t] = 0
		}
	}
	if len(trim) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(dp.ctx, time.Minute)
	defer cancel()
	if err := dp.sched.Scale(ctx, app, slot, trim); err != nil && !errors.Is(err, scheduler.ErrNotFound) {
		dp.logf("stopping the standby's other processes of %s: %v", app, err)
	}
}

// dropStandby forgets the app's standby release; its slot is about to be
// reused or stopped.
func (dp *deployer) dropStandby(app string) error {
	var standby int
	_, err := dp.store.UpdateApp(app, func(x *api.App) error {
		standby = x.StandbyRelease
		x.StandbyRelease, x.StandbyUntil = 0, time.Time{}
		return nil
	})
	if err == nil && standby != 0 {
		dp.setStatus(app, standby, api.StatusSuperseded, "")
	}
	return err
}

func (dp *deployer) stopSlot(app, slot string) {
	ctx, cancel := context.WithTimeout(dp.ctx, time.Minute)
	defer cancel()
	if err := dp.sched.Stop(ctx, app, slot); err != nil && !errors.Is(err, scheduler.ErrNotFound) {
		dp.logf("stopping %s slot of %s: %v", slot, app, err)
	}
	dp.routes.refreshRoutes()
}

func (dp *deployer) standbyWindow(app api.App) time.Duration {
	if app.StandbyWindow > 0 {
		return time.Duration(app.StandbyWindow)
	}
	return dp.cfg.StandbyWindow
}

func (dp *deployer) markFailed(app string, version int, reason string) {
	dp.setStatus(app, version, api.StatusFailed, reason)
	dp.events.addData(app, api.EventDeployFailed, "", api.EventData{"release": releaseName(version), "reason": reason}, "Deploy of v%d failed: %s", version, reason)
}

func (dp *deployer) setStatus(app string, version int, status, reason string) {
	_, err := dp.store.UpdateRelease(app, version, func(r *api.Release) error {
		r.Status = status
		if reason != "" {
			r.Reason = reason
		}
		return nil
	})
	if err != nil {
		dp.logf("marking v%d of %s %s: %v", version, app, status, err)
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

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
