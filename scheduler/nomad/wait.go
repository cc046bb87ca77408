package nomad

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// blockFor is how long one blocking query waits for a change.
const blockFor = 5 * time.Second

// blocking returns QueryOptions for a blocking query after index.
func blocking(ctx context.Context, index uint64) *api.QueryOptions {
	q := query(ctx)
	q.WaitIndex, q.WaitTime = index, blockFor
	return q
}

// waitEval waits until Nomad has processed the evaluation and fails with
// Nomad's own reasons when it could not place every allocation.
func (s *Scheduler) waitEval(ctx context.Context, evalID string) error {
	if evalID == "" {
		return nil
	}
	var index uint64
	for {
		ev, qm, err := s.c.Evaluations().Info(evalID, blocking(ctx, index))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for Nomad to place the job: %w", ctx.Err())
			}
			return fmt.Errorf("reading evaluation %s: %w", evalID, err)
		}
		index = qm.LastIndex
		switch ev.Status {
		case "complete":
			if len(ev.FailedTGAllocs) > 0 {
				return fmt.Errorf("Nomad cannot place it: %s", placementFailure(ev.FailedTGAllocs))
			}
			return nil
		case "failed", "canceled":
			return fmt.Errorf("Nomad's evaluation %s %s: %s", evalID, ev.Status, ev.StatusDescription)
		}
	}
}

// placementFailure says why Nomad placed no allocation of some groups, in
// the words of `nomad job status`.
func placementFailure(failed map[string]*api.AllocationMetric) string {
	var parts []string
	for _, tg := range sortedKeys(failed) {
		m := failed[tg]
		var why []string
		if m.NodesEvaluated == 0 {
			why = append(why, "no nodes were eligible for evaluation")
		}
		for _, k := range sortedKeys(m.ClassFiltered) {
			why = append(why, fmt.Sprintf("class %q filtered %d nodes", k, m.ClassFiltered[k]))
		}
		for _, k := range sortedKeys(m.ConstraintFiltered) {
			why = append(why, fmt.Sprintf("constraint %q filtered %d nodes", k, m.ConstraintFiltered[k]))
		}
		for _, k := range sortedKeys(m.DimensionExhausted) {
			why = append(why, fmt.Sprintf("resources exhausted on %d nodes: %s", m.DimensionExhausted[k], k))
		}
		why = append(why, m.QuotaExhausted...)
		if len(why) == 0 {
			why = append(why, fmt.Sprintf("%d of %d nodes filtered, %d exhausted", m.NodesFiltered, m.NodesEvaluated, m.NodesExhausted))
		}
		parts = append(parts, fmt.Sprintf("%s: %s", tg, strings.Join(why, "; ")))
	}
	return strings.Join(parts, "; ")
}

// failEvents are task events after which the start is given up.
var failEvents = map[string]bool{
	api.TaskArtifactDownloadFailed: true, api.TaskDriverFailure: true,
	api.TaskSetupFailure: true, api.TaskFailedValidation: true,
	api.TaskNotRestarting: true,
}

// waitStarted waits until want allocations of the job's version run their
// task, and fails as soon as one of them fails to start.
func (s *Scheduler) waitStarted(ctx context.Context, id string, version uint64, want int) error {
	var index uint64
	for {
		stubs, qm, err := s.c.Jobs().Allocations(id, false, blocking(ctx, index))
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for the instances to start: %w", ctx.Err())
			}
			return fmt.Errorf("listing allocations of %s: %w", id, err)
		}
		index = qm.LastIndex
		started := 0
		for _, a := range stubs {
			if a.JobVersion != version || a.DesiredStatus != api.AllocDesiredStatusRun {
				continue
			}
			if err := startFailure(a); err != nil {
				return err
			}
			if ts := a.TaskStates[a.TaskGroup]; ts != nil && !ts.StartedAt.IsZero() {
				started++
			}
		}
		if started >= want {
			return nil
		}
	}
}

// startFailure returns why an allocation failed to start, if it did.
func startFailure(a *api.AllocationListStub) error {
	name := fmt.Sprintf("%s.%d", a.TaskGroup, allocIndex(a.Name)+1)
	ts := a.TaskStates[a.TaskGroup]
	if ts != nil {
		for _, e := range ts.Events {
			if failEvents[e.Type] {
				return fmt.Errorf("starting %s: %s: %s", name, e.Type, eventMessage(e))
			}
		}
	}
	if a.ClientStatus == api.AllocClientStatusFailed {
		return fmt.Errorf("starting %s: allocation failed: %s", name, a.ClientDescription)
	}
	return nil
}

// sigRE finds the signature of a slug URL, which is not to be shown.
var sigRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`sig=[0-9a-fA-F]+`) })

func eventMessage(e *api.TaskEvent) string {
	for _, m := range []string{e.DisplayMessage, e.Message, e.DownloadError, e.DriverError, e.SetupError, e.ValidationError} {
		if m != "" {
			return sigRE().ReplaceAllString(m, "sig=REDACTED")
		}
	}
	return "no reason given"
}

// waitStopped waits until no allocation of the jobs runs any more.
func (s *Scheduler) waitStopped(ctx context.Context, ids []string) error {
	for _, id := range ids {
		var index uint64
		for {
			stubs, qm, err := s.c.Jobs().Allocations(id, false, blocking(ctx, index))
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("waiting for %s to stop: %w", id, ctx.Err())
				}
				break // purged and collected
			}
			index = qm.LastIndex
			if !anyRunning(stubs) {
				break
			}
		}
	}
	return nil
}

func anyRunning(stubs []*api.AllocationListStub) bool {
	for _, a := range stubs {
		if a.ClientStatus == api.AllocClientStatusPending || a.ClientStatus == api.AllocClientStatusRunning {
			return true
		}
	}
	return false
}

// sortAllocs orders allocations by group and index.
func sortAllocs(as []*api.AllocationListStub) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].TaskGroup != as[j].TaskGroup {
			return as[i].TaskGroup < as[j].TaskGroup
		}
		return allocIndex(as[i].Name) < allocIndex(as[j].Name)
	})
}
