package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// Run runs r.Command once in the release's slug, with the release's env and
// DYNO=run.N, and returns its exit code. ctx's end or r.Timeout kills it and
// every process it started.
func (s *Scheduler) Run(ctx context.Context, app string, r scheduler.OneOff) (int, error) {
	r.App = app
	if err := checkName("app", app); err != nil {
		return -1, err
	}
	if strings.TrimSpace(r.Command) == "" {
		return -1, errors.New("no command to run: give one, as in `pier run -a APP -- CMD`")
	}
	sl, cleanup, err := s.runSlot(r.Deployment)
	if err != nil {
		return -1, fmt.Errorf("running %q: %w", r.Command, err)
	}
	defer cleanup()
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	s.mu.Lock()
	s.runSeq[app]++
	dyno := fmt.Sprintf("run.%d", s.runSeq[app])
	s.mu.Unlock()
	port, err := freePort(s.host)
	if err != nil {
		return -1, err
	}
	out := r.Output
	if out == nil {
		out = io.Discard
	}
	cmd := exec.CommandContext(ctx, shell(), "-c", profileWrapped(sl.Dir, r.Command))
	cmd.Dir = sl.Dir
	cmd.Env = s.processEnv(sl, dyno, port)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = r.Stdin, out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sl.User.Apply(cmd.SysProcAttr)
	cmd.Cancel = func() error {
		signalSession(cmd.Process.Pid, syscall.SIGKILL)
		return nil
	}
	cmd.WaitDelay = time.Second
	s.event(app, "%s Starting process with command `%s`", dyno, r.Command)
	if err := cmd.Start(); err != nil {
		err = startError(err, cmd.Env)
		s.event(app, "%s Error starting process: %v", dyno, err)
		return -1, fmt.Errorf("running %q: %w", r.Command, err)
	}
	pid := cmd.Process.Pid
	owner, ownerStart := schedulerProcess()
	s.mu.Lock()
	s.oneOffs[pid] = oneOff{App: app, Dyno: dyno, PID: pid, PStart: processStart(pid), Dir: sl.Dir, Owner: owner, OwnerStart: ownerStart}
	s.saveOrLogLocked()
	s.mu.Unlock()
	err = cmd.Wait()
	signalSession(pid, syscall.SIGKILL) // what it left behind
	s.mu.Lock()
	delete(s.oneOffs, pid)
	if !s.closed() { // else the state is the next scheduler's
		s.saveOrLogLocked()
	}
	s.mu.Unlock()
	code := exitCode(cmd, err)
	s.event(app, "%s Process exited with status %d", dyno, code)
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) && r.Timeout > 0 {
			return code, fmt.Errorf("running %q: stopped after the timeout of %s", r.Command, r.Timeout)
		}
		return code, fmt.Errorf("running %q: %w", r.Command, ctxErr)
	}
	if code < 0 {
		return code, fmt.Errorf("running %q: %w", r.Command, err)
	}
	return code, nil
}

// schedulerProcess identifies the process the scheduler runs in: its PID
// and start time. A variable, so that tests can play a scheduler that died.
var schedulerProcess = func() (int, uint64) {
	pid := os.Getpid()
	return pid, processStart(pid)
}

// adoptOneOffLocked deals with a one-off a previous scheduler recorded: one
// that ended is forgotten; one whose scheduler still runs (an upgrade is
// handing over) is left to it; one whose scheduler died is killed, with
// every process it started, since no one waits for it. s.mu is held.
func (s *Scheduler) adoptOneOffLocked(o oneOff) {
	switch {
	case !isOurs(o.PID, o.PStart):
		s.removeRunDir(o.Dir)
	case isOurs(o.Owner, o.OwnerStart):
		s.oneOffs[o.PID] = o
	default:
		signalSession(o.PID, syscall.SIGKILL)
		s.event(o.App, "%s Process killed: the agent that ran it stopped while it ran", o.Dyno)
		s.removeRunDir(o.Dir)
	}
}

// removeRunDir removes the slug unpacked for a one-off, when dir is one.
func (s *Scheduler) removeRunDir(dir string) {
	parent := filepath.Dir(dir)
	if filepath.Base(dir) == "app" && strings.HasPrefix(filepath.Base(parent), "run-") &&
		strings.HasPrefix(parent, filepath.Join(s.dir, "apps")+string(filepath.Separator)) {
		os.RemoveAll(parent)
	}
}

// closed reports whether Close was called.
func (s *Scheduler) closed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// exitCode is the command's exit status, 128+N for a signal, -1 when it
// did not run.
func exitCode(cmd *exec.Cmd, err error) int {
	if cmd.ProcessState == nil {
		return -1
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return cmd.ProcessState.ExitCode()
}

// runSlot is the slot a one-off runs in: the slug unpacked for it (in a
// directory of its own, removed by cleanup), or the deployed slot's slug
// when d has no slug.
func (s *Scheduler) runSlot(d scheduler.Deployment) (*slotState, func(), error) {
	sl := &slotState{App: d.App, Slot: d.Slot, Release: d.Release, Env: d.Env, User: d.User}
	if _, err := s.prepareApp(d.App, d.User); err != nil {
		return nil, nil, fmt.Errorf("preparing the app's directory: %w", err)
	}
	if d.Slug == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		for k, dep := range s.slots {
			if k.app == d.App && (d.Slot == "" || k.slot == d.Slot) && (d.Release == 0 || dep.Release == d.Release) {
				sl.Dir, sl.Slot, sl.Release, sl.User = dep.Dir, dep.Slot, dep.Release, dep.User
				if sl.Env == nil {
					sl.Env = dep.Env
				}
				return sl, func() {}, nil
			}
		}
		return nil, nil, fmt.Errorf("no slug given and no release of %s deployed: %w", d.App, scheduler.ErrNotFound)
	}
	parent := filepath.Join(s.dir, "apps", d.App)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, nil, err
	}
	tmp, err := os.MkdirTemp(parent, "run-")
	if err == nil {
		err = os.Chmod(tmp, 0o755) // the app's group alone may enter parent
	}
	if err != nil {
		return nil, nil, err
	}
	sl.Dir = filepath.Join(tmp, "app")
	if err := unpackSlug(d.Slug, d.SlugSHA256, sl.Dir); err != nil {
		os.RemoveAll(tmp)
		return nil, nil, err
	}
	return sl, func() { os.RemoveAll(tmp) }, nil
}
