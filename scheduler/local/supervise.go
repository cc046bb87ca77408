package local

import (
	"fmt"
	"time"
)

// supervise checks the processes, restarts crashed ones and moves their
// output to the app logs until Close.
func (s *Scheduler) supervise() {
	defer s.wg.Done()
	t := time.NewTicker(superviseEvery)
	defer t.Stop()
	var memoryAt time.Time
	for {
		var now time.Time
		select {
		case <-s.done:
			return
		case now = <-t.C:
		}
		s.superviseOnce()
		s.forgetEndedOneOffs()
		if now.Sub(memoryAt) >= memoryEvery {
			memoryAt = now
			s.checkMemory()
		}
	}
}

// forgetEndedOneOffs drops the records of one-offs left to the agent that
// handed over to this one, once they ended.
func (s *Scheduler) forgetEndedOneOffs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	me, _ := schedulerProcess()
	changed := false
	for pid, o := range s.oneOffs {
		if o.Owner != me && !isOurs(o.PID, o.PStart) {
			delete(s.oneOffs, pid)
			s.removeRunDir(o.Dir)
			changed = true
		}
	}
	if changed {
		s.saveOrLogLocked()
	}
}

// probe is what one supervision round found about an instance.
type probe struct {
	in    *inst
	pid   int
	alive bool
	ready bool
	note  string
}

func (s *Scheduler) superviseOnce() {
	s.mu.Lock()
	var ps []probe
	for _, in := range s.insts {
		if in.State != StateCrashed {
			ps = append(ps, probe{in: in, pid: in.PID})
		}
	}
	s.mu.Unlock()

	// Look at the processes without the lock: dialing takes time.
	for i := range ps {
		p := &ps[i]
		s.mu.Lock()
		pid, start, state, typ, port := p.in.PID, p.in.PStart, p.in.State, p.in.Type, p.in.Port
		s.mu.Unlock()
		if pid != p.pid {
			continue
		}
		p.alive, p.note = checkProc(pid, start)
		if p.alive && state == StateStarting {
			p.ready = typ != "web" || accepts(fmt.Sprintf("%s:%d", s.host, port))
		}
		// Drain output before a crash line, so the last words come first.
		mode := tailLines
		if !p.alive {
			mode = tailFlush
		}
		s.tail(p.in.App, p.in.Name(), p.in.RawLog, p.in.tail, mode)
	}

	changed := map[string]bool{}
	s.mu.Lock()
	dirty := false
	for _, p := range ps {
		in := p.in
		if s.insts[in.ID] != in || in.PID != p.pid || in.State == StateCrashed {
			continue // stopped or replaced meanwhile
		}
		switch {
		case !p.alive:
			s.crashedLocked(in, p.note)
			changed[in.App], dirty = true, true
		case p.ready:
			s.event(in.App, "%s State changed from starting to up", in.Name())
			in.State, in.upSince = StateUp, time.Now()
			changed[in.App], dirty = true, true
		}
	}
	for _, in := range s.insts {
		if in.State == StateCrashed && !time.Now().Before(in.nextStart) {
			if err := s.restartLocked(in); err != nil {
				s.logf("restarting %s %s.%s: %v", in.App, in.Slot, in.Name(), err)
			}
			changed[in.App], dirty = true, true
		}
	}
	if dirty || time.Since(s.savedAt) > 2*time.Second {
		s.saveOrLogLocked()
	}
	s.mu.Unlock()
	for app := range changed {
		s.changed(app)
	}
}

// crashedLocked records that in's process ended and schedules its restart.
func (s *Scheduler) crashedLocked(in *inst, note string) {
	s.event(in.App, "%s %s", in.Name(), note)
	s.event(in.App, "%s State changed from %s to crashed", in.Name(), in.State)
	if !in.upSince.IsZero() && time.Since(in.upSince) >= resetBackoff {
		in.backoff = minBackoff
	}
	if in.backoff <= 0 {
		in.backoff = minBackoff
	}
	in.State = StateCrashed
	in.upSince = time.Time{}
	in.nextStart = time.Now().Add(in.backoff)
	in.backoff = min(in.backoff*2, maxBackoff)
}

// restartLocked starts a crashed instance again. When that fails, the
// next try waits for the backoff, doubled.
func (s *Scheduler) restartLocked(in *inst) error {
	sl := s.slots[slotKey{in.App, in.Slot}]
	if sl == nil {
		in.nextStart = time.Now().Add(in.backoff) // it is being stopped
		return fmt.Errorf("its slot is no longer deployed")
	}
	in.Restarts++
	s.event(in.App, "%s State changed from crashed to starting", in.Name())
	return s.spawnLocked(in, sl)
}

// notice asks the notifier to call OnChange(app); done, when set, is
// closed once it has.
type notice struct {
	app  string
	done chan struct{}
}

// changed queues OnChange(app). It never blocks.
func (s *Scheduler) changed(app string) { s.queue(notice{app: app}) }

// changedWait calls OnChange(app) and waits until it returned.
func (s *Scheduler) changedWait(app string) {
	n := notice{app: app, done: make(chan struct{})}
	s.queue(n)
	select {
	case <-n.done:
	case <-s.done:
	}
}

func (s *Scheduler) queue(n notice) {
	if s.onChange == nil {
		if n.done != nil {
			close(n.done)
		}
		return
	}
	s.noticeMu.Lock()
	s.notices = append(s.notices, n)
	s.noticeMu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// notifier calls OnChange for queued notices, once per app per batch.
func (s *Scheduler) notifier() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.notify:
		}
		s.noticeMu.Lock()
		batch := s.notices
		s.notices = nil
		s.noticeMu.Unlock()
		seen := map[string]bool{}
		for _, n := range batch {
			if !seen[n.app] {
				seen[n.app] = true
				s.onChange(n.app)
			}
		}
		for _, n := range batch {
			if n.done != nil {
				close(n.done)
			}
		}
	}
}
