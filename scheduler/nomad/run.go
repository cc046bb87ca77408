package nomad

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// Limits of one-off processes.
const (
	maxRunTime  = 24 * time.Hour
	runStartMax = 2 * time.Minute // to place the holder and fetch the slug
)

// Run runs a one-off as a batch job pier-APP-run-N: its task fetches the
// slug and waits, and the command runs in it through Nomad's exec API,
// which carries stdin, the output and the exit code. The job is removed
// when the command ends or ctx or r.Timeout does.
func (s *Scheduler) Run(ctx context.Context, app string, r scheduler.OneOff) (int, error) {
	if r.Command == "" {
		return -1, errors.New("run: no command given")
	}
	d := r.Deployment
	d.App = app
	if d.Slot == "" {
		d.Slot = "blue"
	}
	d.Formation = nil
	limit := maxRunTime
	if r.Timeout > 0 {
		limit = min(r.Timeout, maxRunTime)
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	if err := checkSlug(d); err != nil {
		return -1, err
	}
	n, job, err := s.registerRun(ctx, d, limit)
	if err != nil {
		return -1, err
	}
	id := *job.ID
	defer s.removeRun(id)
	alloc, err := s.waitRunAlloc(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("starting run.%d: %w", n, err)
	}
	out := &syncWriter{w: r.Output}
	if r.Output == nil {
		out.w = io.Discard
	}
	stdin := r.Stdin
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	cmd := []string{"/bin/sh", "-c", startScript, "pier", "run." + strconv.Itoa(n), r.Command}
	code, err := s.c.Allocations().Exec(ctx, alloc, "run", false, cmd, stdin, out, out, nil, query(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return -1, fmt.Errorf("run.%d: %w", n, ctx.Err())
		}
		return -1, fmt.Errorf("run.%d: %w", n, err)
	}
	return code, nil
}

// registerRun registers the next free pier-APP-run-N job.
func (s *Scheduler) registerRun(ctx context.Context, d scheduler.Deployment, limit time.Duration) (int, *api.Job, error) {
	for range 20 {
		n := s.nextRun(ctx, d.App)
		job, err := runJobSpec(d, s.opts, n, limit)
		if err != nil {
			return 0, nil, err
		}
		if err := s.writeConfig(ctx, *job.ID, configVars(d.Env)); err != nil {
			return 0, nil, err
		}
		cctx, cancel := callCtx(ctx)
		_, _, err = s.c.Jobs().EnforceRegister(job, 0, write(cctx))
		cancel()
		if err == nil {
			return n, job, nil
		}
		if !strings.Contains(err.Error(), "Enforcing job modify index") {
			s.writeConfig(ctx, *job.ID, nil)
			return 0, nil, fmt.Errorf("registering %s: %w", *job.ID, err)
		}
	}
	return 0, nil, errors.New("run: no free one-off number after 20 tries")
}

// nextRun is one more than the highest one-off number of the app the
// cluster or this scheduler has seen.
func (s *Scheduler) nextRun(ctx context.Context, app string) int {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	n := s.runSeq[app]
	cctx, cancel := callCtx(ctx)
	defer cancel()
	q := query(cctx)
	q.Prefix = jobPrefix + app + "-run-"
	if jobs, _, err := s.c.Jobs().List(q); err == nil {
		for _, j := range jobs {
			if m := runRE().FindStringSubmatch(strings.TrimPrefix(j.ID, jobPrefix)); m != nil && m[1] == app {
				k, _ := strconv.Atoi(m[2])
				n = max(n, k)
			}
		}
	}
	s.runSeq[app] = n + 1
	return n + 1
}

// runJobSpec is the batch job of a one-off: one task that fetches the
// slug and sleeps until the command run in it ends.
func runJobSpec(d scheduler.Deployment, o Options, n int, limit time.Duration) (*api.Job, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	d.Processes, d.Formation = map[string]string{"run": "true"}, nil
	if err := checkDeployment(d); err != nil {
		return nil, err
	}
	id := runJobID(d.App, n)
	job := baseJob(id, api.JobTypeBatch, d, o)
	secs := int((limit + runStartMax).Seconds())
	tg := taskGroup(d, o, "run", "run."+strconv.Itoa(n), "exec sleep "+strconv.Itoa(secs), 1)
	if len(configVars(d.Env)) > 0 {
		tg.Tasks[0].Templates[0].EmbeddedTmpl = ptr(configTemplate(id))
	}
	tg.RestartPolicy = &api.RestartPolicy{Attempts: ptr(0), Mode: ptr("fail")}
	tg.ReschedulePolicy = &api.ReschedulePolicy{Attempts: ptr(0), Unlimited: ptr(false)}
	job.AddTaskGroup(tg)
	return job, nil
}

// waitRunAlloc waits until the one-off's task runs.
func (s *Scheduler) waitRunAlloc(ctx context.Context, id string) (*api.Allocation, error) {
	var index uint64
	for {
		stubs, qm, err := s.c.Jobs().Allocations(id, false, blocking(ctx, index))
		if err != nil {
			return nil, err
		}
		index = qm.LastIndex
		for _, a := range stubs {
			if err := startFailure(a); err != nil {
				return nil, err
			}
			if ts := a.TaskStates["run"]; ts != nil && ts.State == "running" {
				return &api.Allocation{ID: a.ID, NodeID: a.NodeID, Namespace: a.Namespace, TaskGroup: a.TaskGroup}, nil
			}
		}
	}
}

// removeRun purges a one-off's job and its config.
func (s *Scheduler) removeRun(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	if _, _, err := s.c.Jobs().DeregisterOpts(id, &api.DeregisterOptions{Purge: true}, write(ctx)); err != nil {
		s.logf("nomad scheduler: removing one-off %s: %v", id, err)
	}
	if err := s.writeConfig(ctx, id, nil); err != nil {
		s.logf("nomad scheduler: %v", err)
	}
}

// syncWriter serializes the exec session's stdout and stderr.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
