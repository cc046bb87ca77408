package agent

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/cloudflare/tableflip"

	"github.com/pierhq/pier/scheduler"
	"github.com/pierhq/pier/scheduler/local"
	"github.com/pierhq/pier/scheduler/nomad"
)

// Planned restarts and upgrades: on SIGHUP the agent starts a new copy of
// its binary (the one now at its path, so replacing the file and sending
// SIGHUP upgrades it) and passes it the listening sockets. The old agent
// finishes the operations under way, hands over the store and the
// scheduler's state, and keeps proxying with its last route table until the
// new agent is ready; then it drains its in-flight requests and exits. No
// request fails: both processes accept on the same sockets meanwhile.

// upgradeTimeout bounds how long the new agent may take to become ready.
const upgradeTimeout = 2 * time.Minute

// quiesceTimeout bounds how long a handover waits for deploys under way.
const quiesceTimeout = 15 * time.Minute

// newUpgrader returns the socket-passing upgrader, or nil where the
// platform has none (then SIGHUP does nothing but log).
func (a *Agent) newUpgrader() *tableflip.Upgrader {
	upg, err := tableflip.New(tableflip.Options{
		UpgradeTimeout: upgradeTimeout,
		PIDFile:        filepath.Join(a.dirs.root, "pier.pid"),
	})
	if err != nil {
		a.logf("restarts without downtime are off: %v", err)
		return nil
	}
	return upg
}

// listenOn listens on addr, or takes the socket over from the agent before.
func listenOn(upg *tableflip.Upgrader, addr string) (net.Listener, error) {
	if upg == nil {
		return net.Listen("tcp", addr)
	}
	return upg.Listen("tcp", addr)
}

// exitOf is closed when the new agent is ready and this one must exit.
func exitOf(upg *tableflip.Upgrader) <-chan struct{} {
	if upg == nil {
		return nil
	}
	return upg.Exit()
}

// watchHangups hands over to a new agent on each SIGHUP until ctx is done.
func (a *Agent) watchHangups(ctx context.Context, upg *tableflip.Upgrader) {
	defer a.wg.Done()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if upg == nil {
				a.logf("SIGHUP: this platform cannot pass sockets to a new agent; restart the agent instead")
				continue
			}
			if a.handover(ctx, upg) {
				return
			}
		}
	}
}

// handover passes the agent to a new process. It returns true once the new
// agent is ready (this one then exits), false when it failed and this agent
// goes on.
func (a *Agent) handover(ctx context.Context, upg *tableflip.Upgrader) bool {
	a.log.Info("SIGHUP: handing over to a new agent; waiting for operations under way")
	release, err := a.quiesce(ctx)
	if err != nil {
		a.log.Error("handover abandoned", "err", err)
		return false
	}
	if err := a.sched.Close(); err != nil {
		a.logf("closing the scheduler for the handover: %v", err)
	}
	if err := a.store.Suspend(); err != nil {
		a.logf("closing the store for the handover: %v", err)
	}
	a.log.Info("starting the new agent")
	if err := upg.Upgrade(); err != nil {
		a.log.Error("the new agent did not become ready; this one goes on", "err", err)
		if err := a.resume(); err != nil {
			a.log.Error("resuming after a failed handover", "err", err)
		}
		release()
		a.refreshRoutes()
		a.handoversFailed.Inc()
		return false
	}
	a.log.Info("the new agent is ready; draining and exiting")
	return true
}

// quiesce takes every app's lock, so no deploy or change is under way, and
// returns the function that releases them.
func (a *Agent) quiesce(ctx context.Context) (func(), error) {
	ctx, cancel := context.WithTimeout(ctx, quiesceTimeout)
	defer cancel()
	apps, err := a.store.ListApps()
	if err != nil {
		return nil, err
	}
	var unlocks []func()
	release := func() {
		for _, u := range unlocks {
			u()
		}
	}
	for _, app := range apps {
		u, err := a.deploy.lockApp(ctx, app.Name, io.Discard)
		if err != nil {
			release()
			return nil, fmt.Errorf("waiting for the deploy of %s: %w", app.Name, err)
		}
		unlocks = append(unlocks, u)
	}
	return release, nil
}

// resume takes the store and the scheduler back after a failed handover.
func (a *Agent) resume() error {
	if err := a.store.Resume(); err != nil {
		return err
	}
	s, err := a.newScheduler()
	if err != nil {
		return err
	}
	a.sched.(*swapScheduler).set(s)
	return nil
}

// newScheduler starts the configured scheduler.
func (a *Agent) newScheduler() (scheduler.Scheduler, error) {
	onChange := func(string) { a.kickRoutes() }
	switch a.cfg.Scheduler {
	case "local":
		a.keyMu.Lock()
		key, previous := a.key, a.prevKey
		a.keyMu.Unlock()
		return local.New(local.Options{Dir: a.dirs.local, Key: key, PreviousKey: previous, OnChange: onChange, Logf: a.logf})
	case "nomad":
		return nomad.New(nomad.Options{
			Address:  a.cfg.NomadAddr,
			Token:    os.Getenv("NOMAD_TOKEN"),
			CACert:   os.Getenv("NOMAD_CACERT"),
			Driver:   a.cfg.NomadDriver,
			OnChange: onChange,
			Logf:     a.logf,
			SlugKey:  a.slugKey(),
		})
	default:
		return nil, fmt.Errorf("scheduler %q is not available: use --scheduler local or nomad", a.cfg.Scheduler)
	}
}

// swapScheduler is the agent's scheduler behind a lock, so that a failed
// handover can put a fresh one in place while requests use it.
type swapScheduler struct {
	mu sync.RWMutex
	s  scheduler.Scheduler
}

// slugSignerOf returns the slug URL signer of s, or nil when s has none.
func slugSignerOf(s scheduler.Scheduler) scheduler.SlugURLSigner {
	if w, ok := s.(*swapScheduler); ok {
		s = w.get()
	}
	signer, _ := s.(scheduler.SlugURLSigner)
	return signer
}

func (w *swapScheduler) get() scheduler.Scheduler {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.s
}

func (w *swapScheduler) set(s scheduler.Scheduler) {
	w.mu.Lock()
	w.s = s
	w.mu.Unlock()
}

func (w *swapScheduler) Deploy(ctx context.Context, d scheduler.Deployment) error {
	return w.get().Deploy(ctx, d)
}

func (w *swapScheduler) Scale(ctx context.Context, app, slot string, f scheduler.Formation) error {
	return w.get().Scale(ctx, app, slot, f)
}

func (w *swapScheduler) Restart(ctx context.Context, app, slot string) error {
	return w.get().Restart(ctx, app, slot)
}

func (w *swapScheduler) Stop(ctx context.Context, app, slot string) error {
	return w.get().Stop(ctx, app, slot)
}

func (w *swapScheduler) Instances(ctx context.Context, app string) ([]scheduler.Instance, error) {
	return w.get().Instances(ctx, app)
}

func (w *swapScheduler) Logs(ctx context.Context, app string, o scheduler.LogOptions) (io.ReadCloser, error) {
	return w.get().Logs(ctx, app, o)
}

func (w *swapScheduler) Run(ctx context.Context, app string, r scheduler.OneOff) (int, error) {
	return w.get().Run(ctx, app, r)
}

func (w *swapScheduler) Close() error { return w.get().Close() }
