package nomad

import (
	"context"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// usageTimeout bounds one allocation's stats call: the Nomad servers
// forward it to the client that runs the allocation, which may be far or
// gone. A scrape must not wait for it.
const usageTimeout = 2 * time.Second

// usageCalls is how many stats calls Measure makes at once.
const usageCalls = 4

// Measure fills in the memory of the instances that are up from their
// Nomad clients' resource usage: the resident memory of the task's
// processes. Only scrapes of pier's metrics ask, so deploys never wait for
// it; an allocation whose client does not answer in time is left
// unmeasured. Nomad reports CPU only as a share over its own sampling
// interval, so CPU time stays unknown here (Nomad's client telemetry has
// it).
func (s *Scheduler) Measure(ctx context.Context, ins []scheduler.Instance) {
	sem := make(chan struct{}, usageCalls)
	var wg sync.WaitGroup
	for i := range ins {
		in := &ins[i]
		if in.ID == "" || in.State != StateUp {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			cctx, cancel := context.WithTimeout(ctx, usageTimeout)
			defer cancel()
			u, err := s.c.Allocations().Stats(&api.Allocation{ID: in.ID}, query(cctx))
			if err != nil || u == nil {
				return
			}
			in.Memory = taskMemory(u, in.Type)
		}()
	}
	wg.Wait()
}

// taskMemory is the resident memory of the task of a process type (each
// group of pier's jobs has one task, named for the type), or of the whole
// allocation when the task is not in the answer.
func taskMemory(u *api.AllocResourceUsage, typ string) int64 {
	ru := u.ResourceUsage
	if t, ok := u.Tasks[typ]; ok && t != nil {
		ru = t.ResourceUsage
	}
	if ru == nil || ru.MemoryStats == nil {
		return 0
	}
	if m := ru.MemoryStats; m.RSS > 0 {
		return int64(m.RSS)
	}
	return int64(ru.MemoryStats.Usage)
}

// memoryLimit is the memory limit of a process type's task in job, in
// bytes; 0 when the job does not say.
func memoryLimit(job *api.Job, typ string) int64 {
	for _, tg := range job.TaskGroups {
		if tg.Name == nil || *tg.Name != typ {
			continue
		}
		for _, t := range tg.Tasks {
			if t.Resources != nil && t.Resources.MemoryMB != nil {
				return int64(*t.Resources.MemoryMB) << 20
			}
		}
	}
	return 0
}
