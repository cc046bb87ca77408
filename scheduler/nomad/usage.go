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

// Measure fills in the memory and CPU time of the instances that are up
// from their Nomad clients' resource usage: the resident memory of the
// task's processes, and CPU time estimated from the share of a core Nomad
// reports (see cpuMeter). Only scrapes of pier's metrics ask, so deploys
// never wait for it; an allocation whose client does not answer in time is
// left unmeasured.
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
			ru := taskUsage(u, in.Type)
			in.Memory = memoryOf(ru)
			if ru != nil && ru.CpuStats != nil {
				in.CPU, in.CPUKnown = s.cpu.add(in.ID, ru.CpuStats.Percent/100, time.Now()), true
			}
		}()
	}
	wg.Wait()
}

// taskUsage is the usage of the task of a process type (each group of
// pier's jobs has one task, named for the type), or of the whole
// allocation when the task is not in the answer.
func taskUsage(u *api.AllocResourceUsage, typ string) *api.ResourceUsage {
	if t, ok := u.Tasks[typ]; ok && t != nil && t.ResourceUsage != nil {
		return t.ResourceUsage
	}
	return u.ResourceUsage
}

// memoryOf is the resident memory in ru, or the memory charged to it when
// the driver reports no RSS.
func memoryOf(ru *api.ResourceUsage) int64 {
	if ru == nil || ru.MemoryStats == nil {
		return 0
	}
	if m := ru.MemoryStats; m.RSS > 0 {
		return int64(m.RSS)
	}
	return int64(ru.MemoryStats.Usage)
}

// cpuMeter turns the share of a core each allocation used, as its Nomad
// client last sampled it, into CPU seconds that only grow, as the local
// scheduler's are: at each scrape it adds the share times the time since
// the allocation's previous scrape. It is an estimate from samples, good
// for rates over several scrapes; a gap longer than cpuGap (a missed or
// failed scrape) counts nothing for the gap.
type cpuMeter struct {
	mu   sync.Mutex
	seen map[string]cpuSample // allocation ID -> its last sample
}

type cpuSample struct {
	at      time.Time
	seconds float64
}

// cpuGap is the longest time between two samples that cpuMeter counts;
// cpuForget, how long an allocation not sampled is remembered.
const (
	cpuGap    = 2 * time.Minute
	cpuForget = 10 * time.Minute
)

// add records that alloc used cores at now and returns its CPU seconds.
func (m *cpuMeter) add(alloc string, cores float64, now time.Time) float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]cpuSample{}
	}
	prev := m.seen[alloc]
	next := cpuSample{at: now, seconds: prev.seconds}
	if gap := now.Sub(prev.at); !prev.at.IsZero() && gap > 0 && gap <= cpuGap && cores > 0 {
		next.seconds += cores * gap.Seconds()
	}
	m.seen[alloc] = next
	for id, s := range m.seen {
		if now.Sub(s.at) > cpuForget {
			delete(m.seen, id)
		}
	}
	return next.seconds
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
