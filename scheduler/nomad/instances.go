package nomad

import (
	"context"
	"fmt"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// States of an instance (the same words as api.State*).
const (
	StateStarting = "starting"
	StateUp       = "up"
	StateCrashed  = "crashed"
	StateStopped  = "stopped"
)

// allocNameRE reads the index out of an allocation's name, job.group[N].
var allocNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[(\d+)\]$`) })

// slotJob is one slot's job and its wanted allocations.
type slotJob struct {
	app, slot string
	job       *api.Job
	allocs    []*api.AllocationListStub
}

// Instances lists the app's instances in every slot from the cluster's
// state: the allocations Nomad wants running, their addresses from Nomad's
// service catalog. An app with nothing running has none (and no error).
func (s *Scheduler) Instances(ctx context.Context, app string) ([]scheduler.Instance, error) {
	if err := checkName("app", app); err != nil {
		return nil, err
	}
	var out []scheduler.Instance
	for _, slot := range slots {
		sj, err := s.slotJob(ctx, app, slot)
		if err != nil {
			return nil, err
		}
		if sj == nil {
			continue
		}
		ins, err := s.slotInstances(ctx, sj)
		if err != nil {
			return nil, err
		}
		out = append(out, ins...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.Index < b.Index
	})
	return out, nil
}

// slotJob returns the slot's job and its allocations that should run, or
// nil when the slot has no job (or a stopped one).
func (s *Scheduler) slotJob(ctx context.Context, app, slot string) (*slotJob, error) {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	id := JobID(app, slot)
	job, _, err := s.c.Jobs().Info(id, query(ctx))
	if err != nil {
		if isNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading job %s: %w", id, err)
	}
	if job.Stop != nil && *job.Stop {
		return nil, nil
	}
	stubs, _, err := s.c.Jobs().Allocations(id, false, query(ctx))
	if err != nil {
		return nil, fmt.Errorf("listing allocations of %s: %w", id, err)
	}
	sj := &slotJob{app: app, slot: slot, job: job}
	for _, a := range stubs {
		if a.DesiredStatus == api.AllocDesiredStatusRun &&
			a.ClientStatus != api.AllocClientStatusComplete && a.ClientStatus != api.AllocClientStatusLost {
			sj.allocs = append(sj.allocs, a)
		}
	}
	return sj, nil
}

func (s *Scheduler) slotInstances(ctx context.Context, sj *slotJob) ([]scheduler.Instance, error) {
	addrs, err := s.serviceAddrs(ctx, sj.app, sj.slot)
	if err != nil {
		return nil, err
	}
	releases, err := s.releases(ctx, sj)
	if err != nil {
		return nil, err
	}
	var out []scheduler.Instance
	for _, a := range sj.allocs {
		in := scheduler.Instance{
			App: sj.app, Slot: sj.slot, Release: releases[a.JobVersion],
			Type: a.TaskGroup, Index: allocIndex(a.Name) + 1,
			Addr: addrs[a.ID], Node: a.NodeName, ID: a.ID,
			MemoryLimit: memoryLimit(sj.job, a.TaskGroup),
		}
		ts := a.TaskStates[a.TaskGroup]
		in.State = taskState(a, ts)
		if ts != nil {
			in.Restarts = int(ts.Restarts)
			in.StartedAt = ts.StartedAt
		}
		if in.State == StateUp {
			in.PID = s.pid(ctx, a, ts)
			if in.PID == 0 || (in.Type == "web" && (in.Addr == "" || !s.listening(ctx, a, ts))) {
				in.State = StateStarting // not yet exec'd, registered or listening
			}
		}
		out = append(out, in)
	}
	return out, nil
}

// serviceAddrs maps allocation IDs to the address of their web service.
func (s *Scheduler) serviceAddrs(ctx context.Context, app, slot string) (map[string]string, error) {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	regs, _, err := s.c.Services().Get(serviceName(app, slot), query(ctx))
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("reading service %s: %w", serviceName(app, slot), err)
	}
	out := map[string]string{}
	for _, r := range regs {
		if r.JobID == JobID(app, slot) {
			out[r.AllocID] = net.JoinHostPort(r.Address, strconv.Itoa(r.Port))
		}
	}
	return out, nil
}

// releases maps the job versions the allocations run to pier releases.
func (s *Scheduler) releases(ctx context.Context, sj *slotJob) (map[uint64]int, error) {
	out := map[uint64]int{}
	out[*sj.job.Version], _ = strconv.Atoi(sj.job.Meta[metaRelease])
	for _, a := range sj.allocs {
		if _, ok := out[a.JobVersion]; ok {
			continue
		}
		ctx, cancel := callCtx(ctx)
		versions, _, _, err := s.c.Jobs().Versions(*sj.job.ID, false, query(ctx))
		cancel()
		if err != nil {
			return nil, fmt.Errorf("reading versions of %s: %w", *sj.job.ID, err)
		}
		for _, j := range versions {
			out[*j.Version], _ = strconv.Atoi(j.Meta[metaRelease])
		}
		break
	}
	return out, nil
}

func allocIndex(name string) int {
	m := allocNameRE().FindStringSubmatch(name)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// taskState maps Nomad's allocation and task states to pier's.
func taskState(a *api.AllocationListStub, ts *api.TaskState) string {
	switch {
	case a.ClientStatus == api.AllocClientStatusFailed:
		return StateCrashed
	case ts == nil:
		return StateStarting
	case ts.State == "running":
		return StateUp
	case ts.State == "dead":
		if ts.Failed {
			return StateCrashed
		}
		return StateStopped
	}
	// pending: before the first start, or between a crash and its restart.
	for i := len(ts.Events) - 1; i >= 0; i-- {
		switch e := ts.Events[i]; e.Type {
		case api.TaskRestartSignal, api.TaskStarted:
			return StateStarting
		case api.TaskTerminated:
			if e.ExitCode != 0 || e.Signal != 0 {
				return StateCrashed
			}
		}
	}
	return StateStarting
}

// pidKey names one start of a task.
type pidKey struct {
	alloc   string
	started time.Time
}

// pid is the process id the task's start script recorded for its latest
// start, or 0 while that start has not recorded it yet.
func (s *Scheduler) pid(ctx context.Context, a *api.AllocationListStub, ts *api.TaskState) int {
	key := pidKey{a.ID, ts.StartedAt}
	s.pidMu.Lock()
	pid, ok := s.pids[key]
	s.pidMu.Unlock()
	if ok {
		return pid
	}
	ctx, cancel := callCtx(ctx)
	defer cancel()
	path := a.TaskGroup + "/" + pidFile
	fi, err := s.fsStat(ctx, a.ID, path)
	if err != nil || !fi.ModTime.After(lastEnd(ts)) {
		return 0
	}
	rc, err := s.fsCat(ctx, a.ID, path)
	if err != nil {
		return 0
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 64<<10))
	if err != nil {
		return 0
	}
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		return 0
	}
	pid, _ = strconv.Atoi(lines[len(lines)-1])
	if pid > 0 {
		s.pidMu.Lock()
		if len(s.pids) > 10000 {
			s.pids = map[pidKey]int{}
		}
		s.pids[key] = pid
		s.pidMu.Unlock()
	}
	return pid
}

// lastEnd is when the task's previous process ended (zero if none did).
func lastEnd(ts *api.TaskState) time.Time {
	for i := len(ts.Events) - 1; i >= 0; i-- {
		if e := ts.Events[i]; e.Type == api.TaskTerminated || e.Type == api.TaskKilled {
			return time.Unix(0, e.Time)
		}
	}
	return time.Time{}
}

// listening reports whether Nomad's tcp check of the web instance passed
// since its latest start.
func (s *Scheduler) listening(ctx context.Context, a *api.AllocationListStub, ts *api.TaskState) bool {
	key := pidKey{a.ID + "/listening", ts.StartedAt}
	s.pidMu.Lock()
	ok := s.pids[key] == 1
	s.pidMu.Unlock()
	if ok {
		return true
	}
	ctx, cancel := callCtx(ctx)
	defer cancel()
	checks, err := s.c.Allocations().Checks(a.ID, query(ctx))
	if err != nil {
		return false
	}
	for _, c := range checks {
		if c.Check == listeningCheck && c.Status == "success" && c.Timestamp >= ts.StartedAt.Unix() {
			s.pidMu.Lock()
			s.pids[key] = 1
			s.pidMu.Unlock()
			return true
		}
	}
	return false
}
