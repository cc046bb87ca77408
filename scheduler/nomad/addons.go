package nomad

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// Add-ons on Nomad: CreateAddon registers the job AddonJobSpec renders,
// with its password in the job's Nomad Variable (which the job's template
// reads, so the password is in no job spec or meta), waits until its
// server runs, and finds its address in Nomad's service catalog;
// DestroyAddon deregisters it. The data stays in the node's host volume,
// which pier does not remove.

// addonDiscoverTimeout bounds the wait for a started add-on's service to
// appear in the catalog.
const addonDiscoverTimeout = time.Minute

// addonStartTimeout bounds the start of an add-on's job: Nomad places it,
// the node pulls the image, the server starts.
const addonStartTimeout = 5 * time.Minute

// addonVarKey is the key of the password in the job's Variable.
const addonVarKey = "PASSWORD"

// CreateAddon runs the add-on a describes and returns the URL apps reach
// it at (postgres://ROLE:PASSWORD@ADDR/ROLE or redis://default:PASSWORD@ADDR).
// One that fails to start is deregistered again, its Variable deleted.
func (s *Scheduler) CreateAddon(ctx context.Context, a AddonJob, password string) (string, error) {
	job, err := AddonJobSpec(a, s.opts)
	if err != nil {
		return "", err
	}
	id := *job.ID
	unlock := s.appLock(id)
	defer unlock()
	ctx, cancel := context.WithTimeout(ctx, addonStartTimeout)
	defer cancel()
	if err := s.writeConfig(ctx, id, map[string]string{addonVarKey: password}); err != nil {
		return "", err
	}
	if err := s.register(ctx, job); err != nil {
		s.removeAddon(id)
		return "", fmt.Errorf("starting add-on %s on node %s: %w; it was removed", a.Name, a.Node, err)
	}
	addr, err := s.AddonAddr(ctx, a.Name)
	if err != nil {
		s.removeAddon(id)
		return "", fmt.Errorf("%w; add-on %s was removed", err, a.Name)
	}
	return addonURLAt(a, password, addr), nil
}

// addonURLAt is the URL of the add-on a at addr (HOST:PORT).
func addonURLAt(a AddonJob, password, addr string) string {
	if a.Type == "redis" {
		u := url.URL{Scheme: "redis", User: url.UserPassword("default", password), Host: addr}
		return u.String()
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(dbRole(a.Name), password), Host: addr, Path: "/" + dbRole(a.Name)}
	return u.String()
}

// AddonAddr finds where the add-on listens in Nomad's service catalog,
// waiting (a minute at most) for its server to register there.
func (s *Scheduler) AddonAddr(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, addonDiscoverTimeout)
	defer cancel()
	svc := AddonServiceName(name)
	var index uint64
	for {
		regs, qm, err := s.c.Services().Get(svc, blocking(ctx, index))
		if ctx.Err() != nil {
			return "", fmt.Errorf("add-on %s started but service %s is not in Nomad's catalog after %s", name, svc, addonDiscoverTimeout)
		}
		if err != nil && !isNotFound(err) {
			return "", fmt.Errorf("looking up service %s: %w", svc, err)
		}
		for _, r := range regs {
			if r.Address != "" && r.Port != 0 {
				return net.JoinHostPort(r.Address, strconv.Itoa(r.Port)), nil
			}
		}
		if qm != nil && qm.LastIndex > index {
			index = qm.LastIndex
		} else {
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}

// DestroyAddon stops the add-on's job and deletes it and its Variable.
// Its data stays in the node's host volume.
func (s *Scheduler) DestroyAddon(ctx context.Context, name string) error {
	id := AddonJobID(name)
	unlock := s.appLock(id)
	defer unlock()
	ctx, stop := context.WithTimeout(ctx, addonStartTimeout)
	defer stop()
	cctx, cancel := callCtx(ctx)
	_, _, err := s.c.Jobs().DeregisterOpts(id, &api.DeregisterOptions{Purge: true}, write(cctx))
	cancel()
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("deregistering job %s: %w", id, err)
	}
	if err := s.waitStopped(ctx, []string{id}); err != nil {
		return err
	}
	return s.writeConfig(ctx, id, nil)
}

// removeAddon undoes a CreateAddon that failed.
func (s *Scheduler) removeAddon(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), undoTimeout)
	defer cancel()
	if _, _, err := s.c.Jobs().DeregisterOpts(id, &api.DeregisterOptions{Purge: true}, write(ctx)); err != nil && !isNotFound(err) {
		s.logf("nomad scheduler: removing add-on job %s: %v", id, err)
	}
	if err := s.writeConfig(ctx, id, nil); err != nil {
		s.logf("nomad scheduler: removing add-on job %s: %v", id, err)
	}
}

var _ scheduler.AddonRunner = (*Scheduler)(nil)

// addonJob is the job description of a scheduler's add-on.
func addonJob(a scheduler.Addon) AddonJob {
	return AddonJob{Name: a.Name, Type: a.Type, Version: a.Version, Node: a.Node, Volume: a.Volume}
}

// RunAddon is CreateAddon for the agent.
func (s *Scheduler) RunAddon(ctx context.Context, a scheduler.Addon, password string) (string, error) {
	return s.CreateAddon(ctx, addonJob(a), password)
}

// AddonURL finds the add-on in the catalog again.
func (s *Scheduler) AddonURL(ctx context.Context, a scheduler.Addon, password string) (string, error) {
	addr, err := s.AddonAddr(ctx, a.Name)
	if err != nil {
		return "", err
	}
	return addonURLAt(addonJob(a), password, addr), nil
}

// StopAddon is DestroyAddon for the agent.
func (s *Scheduler) StopAddon(ctx context.Context, name string) error {
	return s.DestroyAddon(ctx, name)
}
