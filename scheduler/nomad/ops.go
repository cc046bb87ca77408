package nomad

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// stopTimeout bounds the wait for a stopped slot's processes to end.
const stopTimeout = 60 * time.Second

// Scale changes the counts of the slot's task groups with Nomad's scale
// endpoint, which changes nothing else of the job: instances that stay
// keep running.
func (s *Scheduler) Scale(ctx context.Context, app, slot string, f scheduler.Formation) error {
	if err := checkName("app", app); err != nil {
		return err
	}
	defer s.appLock(app)()
	id := JobID(app, slot)
	job, err := s.runningJob(ctx, id)
	if err != nil {
		return err
	}
	groups := map[string]string{}
	counts := map[string]int{}
	for _, tg := range job.TaskGroups {
		groups[*tg.Name] = ""
		counts[*tg.Name] = *tg.Count
	}
	if err := checkFormation(groups, f); err != nil {
		return err
	}
	for _, typ := range sortedKeys(f) {
		if f[typ] == counts[typ] {
			continue
		}
		cctx, cancel := callCtx(ctx)
		resp, _, err := s.c.Jobs().Scale(id, typ, ptr(f[typ]), "pier scale", false, nil, write(cctx))
		cancel()
		if err != nil {
			return fmt.Errorf("scaling %s of %s to %d: %w", typ, id, f[typ], err)
		}
		if err := s.waitEval(ctx, resp.EvalID); err != nil {
			return fmt.Errorf("scaling %s of %s to %d: %w", typ, id, f[typ], err)
		}
	}
	return nil
}

// runningJob returns the slot's job, or ErrNotFound.
func (s *Scheduler) runningJob(ctx context.Context, id string) (*api.Job, error) {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	job, _, err := s.c.Jobs().Info(id, query(ctx))
	if err != nil {
		if isNotFound(err) {
			return nil, fmt.Errorf("%s: %w", id, scheduler.ErrNotFound)
		}
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	if job.Stop != nil && *job.Stop {
		return nil, fmt.Errorf("%s: %w", id, scheduler.ErrNotFound)
	}
	return job, nil
}

// Restart restarts the slot's instances in place, one by one, each once
// the one before runs again. Addresses do not change.
func (s *Scheduler) Restart(ctx context.Context, app, slot string) error {
	if err := checkName("app", app); err != nil {
		return err
	}
	defer s.appLock(app)()
	sj, err := s.slotJob(ctx, app, slot)
	if err != nil {
		return err
	}
	if sj == nil {
		return fmt.Errorf("%s: %w", JobID(app, slot), scheduler.ErrNotFound)
	}
	sortAllocs(sj.allocs)
	for _, a := range sj.allocs {
		if err := s.restartAlloc(ctx, a); err != nil {
			return fmt.Errorf("restarting %s.%d: %w", a.TaskGroup, allocIndex(a.Name)+1, err)
		}
	}
	return nil
}

func (s *Scheduler) restartAlloc(ctx context.Context, a *api.AllocationListStub) error {
	var before time.Time
	if ts := a.TaskStates[a.TaskGroup]; ts != nil {
		before = ts.StartedAt
	}
	cctx, cancel := callCtx(ctx)
	alloc := &api.Allocation{ID: a.ID, NodeID: a.NodeID, Namespace: a.Namespace}
	err := s.c.Allocations().Restart(alloc, a.TaskGroup, query(cctx))
	cancel()
	if err != nil {
		return err
	}
	var index uint64
	for {
		now, qm, err := s.c.Allocations().Info(a.ID, blocking(ctx, index))
		if err != nil {
			return err
		}
		index = qm.LastIndex
		if now.ClientStatus != api.AllocClientStatusRunning && now.ClientStatus != api.AllocClientStatusPending {
			return fmt.Errorf("allocation %s is %s", a.ID, now.ClientStatus)
		}
		ts := now.TaskStates[a.TaskGroup]
		if ts != nil && ts.State == "running" && ts.StartedAt.After(before) {
			stub := *a
			stub.TaskStates = now.TaskStates
			if s.pid(ctx, &stub, ts) != 0 {
				return nil
			}
			select { // the start script has not recorded its pid yet
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// Stop deregisters the slot's job (every job of the app for slot "",
// one-offs too), deletes its config Variable and waits for its processes
// to end.
func (s *Scheduler) Stop(ctx context.Context, app, slot string) error {
	if err := checkName("app", app); err != nil {
		return err
	}
	defer s.appLock(app)()
	ids, err := s.appJobs(ctx, app, slot)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("%s: %w", app, scheduler.ErrNotFound)
	}
	for _, id := range ids {
		cctx, cancel := callCtx(ctx)
		_, _, err := s.c.Jobs().DeregisterOpts(id, &api.DeregisterOptions{Purge: true}, write(cctx))
		cancel()
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("stopping %s: %w", id, err)
		}
		if err := s.writeConfig(ctx, id, nil); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, stopTimeout)
	defer cancel()
	return s.waitStopped(wctx, ids)
}

// appJobs lists the IDs of the app's jobs in slot ("" for all, one-offs
// included).
func (s *Scheduler) appJobs(ctx context.Context, app, slot string) ([]string, error) {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	q := query(ctx)
	q.Prefix = jobPrefix + app + "-"
	jobs, _, err := s.c.Jobs().List(q)
	if err != nil {
		return nil, fmt.Errorf("listing the jobs of %s: %w", app, err)
	}
	var ids []string
	for _, j := range jobs {
		a, sl, ok := parseJobID(j.ID)
		if ok && a == app && (slot == "" || sl == slot) {
			ids = append(ids, j.ID)
		}
	}
	return ids, nil
}
