package nomad

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// deployTimeout bounds the wait for a deployment's processes to start
// when ctx has no earlier deadline.
var deployTimeout = 5 * time.Minute

// undoTimeout bounds putting a slot back after a failed deploy.
const undoTimeout = 30 * time.Second

// Deploy writes the release's config vars to the slot's Nomad Variable,
// registers the slot's job and waits until Nomad has placed and started
// every instance. When Nomad cannot place it, or an instance fails to
// fetch its slug or start, Deploy puts back what the slot ran before (or
// removes the job) and returns Nomad's reason.
func (s *Scheduler) Deploy(ctx context.Context, d scheduler.Deployment) error {
	job, err := JobSpec(d, s.opts)
	if err != nil {
		return err
	}
	if err := checkSlug(d); err != nil {
		return err
	}
	defer s.appLock(d.App)()
	ctx, cancel := context.WithTimeout(ctx, deployTimeout)
	defer cancel()
	id := *job.ID
	prev, err := s.current(ctx, id)
	if err != nil {
		return err
	}
	if err := s.writeConfig(ctx, id, configVars(d.Env)); err != nil {
		return err
	}
	err = s.register(ctx, job)
	if err != nil {
		s.undo(id, prev)
		return fmt.Errorf("deploying v%d of %s to %s: %w", d.Release, d.App, d.Slot, err)
	}
	return nil
}

// checkSlug compares the local slug, when there is one, with its checksum
// before Nomad is asked to fetch it.
func checkSlug(d scheduler.Deployment) error {
	if d.Slug == "" {
		return nil
	}
	f, err := os.Open(d.Slug)
	if err != nil {
		return fmt.Errorf("reading the slug of v%d: %w", d.Release, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading the slug of v%d: %w", d.Release, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.SlugSHA256 {
		return fmt.Errorf("the slug of v%d has sha256 %s, want %s: rebuild the release", d.Release, got, d.SlugSHA256)
	}
	return nil
}

// prior is what a slot ran before a deploy.
type prior struct {
	version *uint64           // nil: no job
	config  map[string]string // nil: no Variable
}

func (s *Scheduler) current(ctx context.Context, id string) (prior, error) {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	var p prior
	job, _, err := s.c.Jobs().Info(id, query(ctx))
	switch {
	case err == nil && (job.Stop == nil || !*job.Stop):
		p.version = job.Version
	case err != nil && !isNotFound(err):
		return p, fmt.Errorf("reading job %s: %w", id, err)
	}
	v, _, err := s.c.Variables().Read(variablePath(id), query(ctx))
	switch {
	case err == nil && v != nil:
		p.config = v.Items
	case err != nil && !isNotFound(err):
		return p, fmt.Errorf("reading the config of %s: %w", id, err)
	}
	return p, nil
}

// writeConfig writes the config vars to the job's Variable, or deletes it
// when there are none.
func (s *Scheduler) writeConfig(ctx context.Context, id string, vars map[string]string) error {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	path := variablePath(id)
	if len(vars) == 0 {
		if _, err := s.c.Variables().Delete(path, write(ctx)); err != nil && !isNotFound(err) {
			return fmt.Errorf("deleting the config of %s: %w", id, err)
		}
		return nil
	}
	v := &api.Variable{Path: path, Items: vars, Namespace: s.opts.Namespace}
	if _, _, err := s.c.Variables().Update(v, write(ctx)); err != nil {
		if isForbidden(err) {
			return fmt.Errorf("writing the config of %s to Nomad Variable %s: %w (the token needs variables write on nomad/jobs/pier-*)", id, path, err)
		}
		return fmt.Errorf("writing the config of %s to Nomad Variable %s: %w", id, path, err)
	}
	return nil
}

// register submits the job and waits for its instances to start.
func (s *Scheduler) register(ctx context.Context, job *api.Job) error {
	cctx, cancel := callCtx(ctx)
	resp, _, err := s.c.Jobs().Register(job, write(cctx))
	cancel()
	if err != nil {
		if isForbidden(err) {
			return fmt.Errorf("registering job %s: %w (the token needs submit-job)", *job.ID, err)
		}
		return fmt.Errorf("registering job %s: %w", *job.ID, err)
	}
	if err := s.waitEval(ctx, resp.EvalID); err != nil {
		return err
	}
	cctx, cancel = callCtx(ctx)
	now, _, err := s.c.Jobs().Info(*job.ID, query(cctx))
	cancel()
	if err != nil {
		return fmt.Errorf("reading job %s: %w", *job.ID, err)
	}
	return s.waitStarted(ctx, *job.ID, *now.Version, jobCount(job))
}

func jobCount(job *api.Job) int {
	n := 0
	for _, tg := range job.TaskGroups {
		n += *tg.Count
	}
	return n
}

// undo puts the slot back as it was before a failed deploy.
func (s *Scheduler) undo(id string, p prior) {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	if err := s.writeConfig(ctx, id, p.config); err != nil {
		s.logf("nomad scheduler: undoing a failed deploy: %v", err)
	}
	var err error
	if p.version == nil {
		_, _, err = s.c.Jobs().DeregisterOpts(id, &api.DeregisterOptions{Purge: true}, write(ctx))
	} else {
		_, _, err = s.c.Jobs().Revert(id, *p.version, nil, write(ctx), "", "")
	}
	if err != nil {
		s.logf("nomad scheduler: undoing a failed deploy of %s: %v", id, err)
	}
}
