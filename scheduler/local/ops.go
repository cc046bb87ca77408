package local

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/pierhq/pier/sandbox"
	"github.com/pierhq/pier/scheduler"
)

// Deploy unpacks the release's slug and starts its formation in d.Slot,
// replacing what ran there. Bad input changes nothing.
func (s *Scheduler) Deploy(ctx context.Context, d scheduler.Deployment) error {
	if err := checkDeployment(d); err != nil {
		return err
	}
	if err := checkFormation(d.Processes, d.Formation); err != nil {
		return err
	}
	defer s.appLock(d.App)()
	if _, err := s.prepareApp(d.App, d.User); err != nil {
		return fmt.Errorf("deploying %s v%d to %s: preparing the app's directory: %w", d.App, d.Release, d.Slot, err)
	}
	dir := filepath.Join(s.dir, "apps", d.App, fmt.Sprintf("%s-v%d", d.Slot, d.Release))
	if err := unpackSlug(d.Slug, d.SlugSHA256, dir); err != nil {
		return fmt.Errorf("deploying %s v%d to %s: %w", d.App, d.Release, d.Slot, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	key := slotKey{d.App, d.Slot}
	s.mu.Lock()
	old := s.slots[key]
	olds := s.slotInstsLocked(d.App, d.Slot)
	s.mu.Unlock()
	s.stopInsts(olds)
	if old != nil && old.Dir != dir {
		removeSlugDir(old.Dir)
	}
	sl := &slotState{
		App: d.App, Slot: d.Slot, Release: d.Release, Dir: dir,
		Processes: copyMap(d.Processes), Env: copyMap(d.Env),
		Formation: scheduler.Formation{}, MemoryMB: maps.Clone(d.MemoryMB),
		User: d.User,
	}
	s.mu.Lock()
	s.slots[key] = sl
	err := s.scaleLocked(sl, d.Formation)
	s.saveOrLogLocked()
	s.mu.Unlock()
	s.changed(d.App)
	if err != nil {
		return fmt.Errorf("deploying %s v%d to %s: %w", d.App, d.Release, d.Slot, err)
	}
	return nil
}

// Scale sets the counts of the slot's process types named in f. Instances
// that stay keep running; the highest indexes go first.
func (s *Scheduler) Scale(ctx context.Context, app, slot string, f scheduler.Formation) error {
	defer s.appLock(app)()
	s.mu.Lock()
	sl := s.slots[slotKey{app, slot}]
	if sl == nil {
		s.mu.Unlock()
		return fmt.Errorf("scaling %s %s: %w", app, slot, scheduler.ErrNotFound)
	}
	if err := checkFormation(sl.Processes, f); err != nil {
		s.mu.Unlock()
		return err
	}
	var drop []*inst
	for _, in := range s.slotInstsLocked(app, slot) {
		if n, ok := f[in.Type]; ok && in.Index > n {
			drop = append(drop, in)
		}
	}
	s.mu.Unlock()
	s.stopInsts(drop)
	s.mu.Lock()
	err := s.scaleLocked(sl, f)
	s.saveOrLogLocked()
	s.mu.Unlock()
	s.changed(app)
	if err != nil {
		return fmt.Errorf("scaling %s %s: %w", app, slot, err)
	}
	return nil
}

// scaleLocked records f in the slot and starts the missing instances.
func (s *Scheduler) scaleLocked(sl *slotState, f scheduler.Formation) error {
	have := map[string]bool{}
	for _, in := range s.slotInstsLocked(sl.App, sl.Slot) {
		have[in.Name()] = true
	}
	var errs []error
	for _, typ := range sortedKeys(f) {
		sl.Formation[typ] = f[typ]
		if f[typ] == 0 {
			delete(sl.Formation, typ)
		}
		for i := 1; i <= f[typ]; i++ {
			if have[fmt.Sprintf("%s.%d", typ, i)] {
				continue
			}
			in := s.newInstLocked(sl, typ, i)
			s.insts[in.ID] = in
			if err := s.spawnLocked(in, sl); err != nil {
				errs = append(errs, err) // tried again on the crash backoff
			}
		}
	}
	return errors.Join(errs...)
}

// Restart replaces the slot's instances one by one: the replacement starts
// on a new port, and once it is up (and OnChange has run) the old one stops.
func (s *Scheduler) Restart(ctx context.Context, app, slot string) error {
	defer s.appLock(app)()
	s.mu.Lock()
	sl := s.slots[slotKey{app, slot}]
	olds := s.slotInstsLocked(app, slot)
	s.mu.Unlock()
	if sl == nil {
		return fmt.Errorf("restarting %s %s: %w", app, slot, scheduler.ErrNotFound)
	}
	for _, old := range olds {
		if err := s.replace(ctx, sl, old); err != nil {
			return fmt.Errorf("restarting %s %s: %w", app, slot, err)
		}
	}
	return nil
}

// replace starts a new instance in place of old, waits until it is up,
// then stops old.
func (s *Scheduler) replace(ctx context.Context, sl *slotState, old *inst) error {
	s.mu.Lock()
	if s.insts[old.ID] != old {
		s.mu.Unlock()
		return nil // stopped meanwhile
	}
	in := s.newInstLocked(sl, old.Type, old.Index)
	s.insts[in.ID] = in
	err := s.spawnLocked(in, sl)
	s.saveOrLogLocked()
	s.mu.Unlock()
	if err == nil {
		err = s.waitUp(ctx, in)
	}
	if err != nil {
		s.stopInsts([]*inst{in})
		return fmt.Errorf("%s: %w (the running instance was kept)", old.Name(), err)
	}
	s.changedWait(sl.App)
	s.stopInsts([]*inst{old})
	s.changed(sl.App)
	return nil
}

// waitUp waits until in is up; a crash or ctx's end is an error. Without a
// deadline in ctx it waits at most two minutes.
func (s *Scheduler) waitUp(ctx context.Context, in *inst) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	t := time.NewTicker(superviseEvery / 2)
	defer t.Stop()
	for {
		s.mu.Lock()
		state := in.State
		s.mu.Unlock()
		switch state {
		case StateUp:
			return nil
		case StateCrashed:
			return fmt.Errorf("the new %s crashed on start: see pier logs", in.Name())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the new %s is not up: %w", in.Name(), ctx.Err())
		case <-s.done:
			return errors.New("scheduler closed")
		case <-t.C:
		}
	}
}

// Stop stops the slot's processes ("" for every slot of the app); for the
// whole app it also removes everything the app has here: its unpacked
// slugs and its logs. Stopping one slot keeps the logs.
func (s *Scheduler) Stop(ctx context.Context, app, slot string) error {
	if err := checkName("app", app); err != nil {
		return err
	}
	defer s.appLock(app)()
	s.mu.Lock()
	var ins []*inst
	var dirs []string
	var user sandbox.Identity
	for k, sl := range s.slots {
		if k.app == app && (slot == "" || k.slot == slot) {
			ins = append(ins, s.slotInstsLocked(app, k.slot)...)
			dirs = append(dirs, sl.Dir)
			user = sl.User
			delete(s.slots, k)
		}
	}
	s.saveOrLogLocked()
	s.mu.Unlock()
	appDir := filepath.Join(s.dir, "apps", app)
	_, statErr := os.Stat(appDir)
	if len(dirs) == 0 && statErr != nil {
		return fmt.Errorf("stopping %s: %w", app, scheduler.ErrNotFound)
	}
	s.stopInsts(ins)
	for _, d := range dirs {
		removeSlugDir(d)
	}
	var err error
	if slot == "" {
		// What left its session is found by the app's user.
		if left := sandbox.KillUser(user); left > 0 {
			s.logf("stopping %s: %d processes of uid %d could not be killed", app, left, user.UID)
		}
		err = s.removeApp(app, appDir)
	}
	s.changed(app)
	if err != nil {
		return fmt.Errorf("stopping %s: %w", app, err)
	}
	if len(dirs) == 0 && slot != "" {
		return fmt.Errorf("stopping %s %s: %w", app, slot, scheduler.ErrNotFound)
	}
	return nil
}

// removeApp removes the app's dir: unpacked slugs, output files and logs.
// It holds the app log's lock, so no line being written lands after.
func (s *Scheduler) removeApp(app, appDir string) error {
	l := s.log(app)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.RemoveAll(appDir); err != nil {
		return fmt.Errorf("removing its files: %w", err)
	}
	return nil
}

// removeSlugDir removes an unpacked slug and its checksum mark.
func removeSlugDir(dir string) {
	os.RemoveAll(dir)
	os.Remove(dir + ".sha256")
}

// slotInstsLocked returns the slot's instances.
func (s *Scheduler) slotInstsLocked(app, slot string) []*inst {
	var out []*inst
	for _, in := range s.insts {
		if in.App == app && in.Slot == slot {
			out = append(out, in)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// checkDeployment refuses a deployment the scheduler cannot run.
func checkDeployment(d scheduler.Deployment) error {
	if err := checkName("app", d.App); err != nil {
		return err
	}
	if err := checkName("slot", d.Slot); err != nil {
		return err
	}
	if d.Release < 0 {
		return fmt.Errorf("invalid release v%d", d.Release)
	}
	if d.Slug == "" {
		return errors.New("the deployment has no slug: build the release first")
	}
	for typ, cmd := range d.Processes {
		if err := checkName("process type", typ); err != nil {
			return err
		}
		if strings.TrimSpace(cmd) == "" {
			return fmt.Errorf("process type %q has an empty command: fix the Procfile", typ)
		}
	}
	return nil
}

// checkFormation refuses counts out of range and types with no command.
func checkFormation(procs map[string]string, f scheduler.Formation) error {
	for _, typ := range sortedKeys(f) {
		n := f[typ]
		if _, ok := procs[typ]; !ok {
			return fmt.Errorf("process type %q is not in the Procfile (it has: %s): scale one of those, or add %q to the Procfile", typ, strings.Join(sortedKeys(procs), ", "), typ)
		}
		if n < 0 {
			return fmt.Errorf("%s=%d: a count can't be negative", typ, n)
		}
		if n > maxInstances {
			return fmt.Errorf("%s=%d: at most %d instances of a type run on one host", typ, n, maxInstances)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
