package addons

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/pierhq/pier/internal/proc"
)

// stopGrace is how long a server has to shut down cleanly on SIGTERM
// (PostgreSQL ends its sessions and checkpoints; Redis saves) before
// SIGKILL.
const stopGrace = 30 * time.Second

// maxLog is the size of server.log past which a start moves it to
// server.log.1, replacing the one before.
const maxLog = 10 << 20

// supervise checks the servers until Close: one that ended is started
// again after its backoff; one starting becomes up once it accepts
// clients.
func (m *Manager) supervise() {
	defer m.wg.Done()
	t := time.NewTicker(superviseEvery)
	defer t.Stop()
	for {
		select {
		case <-m.done:
			return
		case <-t.C:
		}
		m.superviseOnce()
	}
}

func (m *Manager) superviseOnce() {
	type probe struct {
		s          *server
		pid        int
		start      uint64
		alive      bool
		note       string
		starting   bool
		ready      bool
		restartDue bool
	}
	var ps []probe
	m.mu.Lock()
	for _, s := range m.servers {
		if s.making || s.stopping {
			continue
		}
		ps = append(ps, probe{s: s, pid: s.PID, start: s.PStart, starting: s.State == StateStarting,
			restartDue: s.State == StateCrashed && !time.Now().Before(s.nextStart)})
	}
	m.mu.Unlock()
	for i := range ps {
		p := &ps[i]
		if p.restartDue || p.pid == 0 {
			continue
		}
		p.alive, p.note = proc.Check(p.pid, p.start)
		if p.alive && p.starting {
			if k, _, err := m.kind(p.s.Type, p.s.Version); err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				p.ready = k.ready(ctx, p.s.Server) == nil
				cancel()
			}
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dirty := false
	for _, p := range ps {
		s := p.s
		if m.servers[s.Name] != s || s.making || s.stopping || s.PID != p.pid {
			continue // destroyed or restarted meanwhile
		}
		switch {
		case p.restartDue:
			s.Restarts++
			m.event(s.Name, "restarting the %s server (restart %d)", s.Type, s.Restarts)
			if err := m.startLocked(s); err != nil {
				m.logf("restarting add-on %s: %v", s.Name, err)
			}
			dirty = true
		case s.State != StateCrashed && !p.alive:
			m.crashedLocked(s, p.note)
			dirty = true
		case p.ready:
			s.State, s.upSince = StateUp, time.Now()
			m.event(s.Name, "the %s server is up on %s", s.Type, s.Addr())
			dirty = true
		}
	}
	if dirty {
		m.saveOrLogLocked()
	}
}

// crashedLocked records that s's process ended and schedules its restart.
func (m *Manager) crashedLocked(s *server, note string) {
	if !s.upSince.IsZero() && time.Since(s.upSince) >= resetBackoff {
		s.backoff = minBackoff
	}
	if s.backoff <= 0 {
		s.backoff = minBackoff
	}
	s.State, s.upSince = StateCrashed, time.Time{}
	s.nextStart = time.Now().Add(s.backoff)
	m.event(s.Name, "the %s server stopped (%s); starting it again in %s (its output: %s)", s.Type, note, s.backoff, s.logPath())
	s.backoff = min(s.backoff*2, maxBackoff)
}

// startLocked starts s's server in a session of its own, as its user, with
// its output appended to server.log. A server that cannot be started
// counts as a crash, and is tried again on the backoff.
func (m *Manager) startLocked(s *server) error {
	err := m.spawn(s)
	if err != nil {
		m.crashedLocked(s, "could not be started: "+err.Error())
	}
	return err
}

func (m *Manager) spawn(s *server) error {
	k, _, err := m.kind(s.Type, s.Version)
	if err != nil {
		return err
	}
	if !portFree(s.Port) {
		return fmt.Errorf("port %d of 127.0.0.1 is taken by another process: stop it, the server keeps trying", s.Port)
	}
	rotateLog(s.logPath())
	out, err := os.OpenFile(s.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("opening its output file: %w", err)
	}
	defer out.Close()
	prog, args := k.command(s.Server)
	cmd := exec.Command(prog, args...)
	cmd.Dir = s.dataDir()
	cmd.Env = serverEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	s.User.Apply(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		return err
	}
	// Reaped by proc.Check (Wait4), so that a server adopted later is too.
	s.PID = cmd.Process.Pid
	cmd.Process.Release()
	s.PStart = proc.Start(s.PID)
	s.State, s.StartedAt, s.upSince = StateStarting, time.Now().UTC(), time.Time{}
	return nil
}

// serverEnv is a server's environment: nothing of the agent's but PATH
// and a locale.
func serverEnv() []string {
	return []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "LC_ALL=C.UTF-8"}
}

// waitReady waits until s, just started, accepts clients; a crash, or two
// minutes, is an error that quotes the end of its output.
func (m *Manager) waitReady(ctx context.Context, s *server, k kind) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		m.mu.Lock()
		pid, start := s.PID, s.PStart
		m.mu.Unlock()
		if alive, note := proc.Check(pid, start); !alive {
			return fmt.Errorf("the %s server did not start (%s): %s", s.Type, note, tailOf(s.logPath()))
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		err := k.ready(rctx, s.Server)
		rcancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the %s server did not accept clients in time (%v): %s", s.Type, err, tailOf(s.logPath()))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stopProcess ends the server's session: SIGTERM, then SIGKILL after
// stopGrace.
func stopProcess(pid int, start uint64) {
	if pid > 0 && proc.IsOurs(pid, start) {
		proc.KillSessions([]int{pid}, stopGrace)
	}
}

// freePort asks the kernel for a free port of 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portFree reports whether nothing listens on port of 127.0.0.1.
func portFree(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

func rotateLog(path string) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > maxLog {
		os.Rename(path, path+".1")
	}
}

// tailOf is the last lines of a server's output, for an error message.
func tailOf(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "no output"
	}
	if len(b) > 1500 {
		b = b[len(b)-1500:]
	}
	return string(b)
}
