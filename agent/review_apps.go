package agent

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/pierhq/pier/api"
)

// Review apps: short-lived apps of a pipeline, one per pull request or
// branch, made with the config of the pipeline's template app (minus the
// vars it marks not to copy) and destroyed by hand or, when the pipeline
// says so, once idle for long enough.

// patchReview sets how a pipeline makes review apps.
func (a *Agent) patchReview(w http.ResponseWriter, r *http.Request) error {
	var req api.ReviewConfig
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("pipeline")
	auditNote(r, req.Template, name)
	if req.ExpireIdle < 0 {
		return invalidf("--expire-idle must be positive, or 0 to keep review apps until they are destroyed")
	}
	for _, k := range req.NoCopy {
		if !configKeyRE().MatchString(k) {
			return invalidf("%s is not a config var name", quoteName(k))
		}
	}
	p, err := a.store.UpdatePipeline(name, func(p *api.Pipeline) error {
		if req.Template != "" {
			if st := p.StageOf(req.Template); st == "" || st == api.StageReview {
				return invalidf("the template %s must be an app of pipeline %s outside the review stage: add it with `pier pipelines add -a %s --stage staging %s`", req.Template, name, req.Template, name)
			}
		}
		p.Review = req
		return nil
	})
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.presentPipeline(p))
	return nil
}

// postReviewApp makes the review app of a pull request or branch: the app,
// its config from the template, its place at the review stage. Any step
// that fails undoes the ones before; the client pushes the branch next.
func (a *Agent) postReviewApp(w http.ResponseWriter, r *http.Request) error {
	var req api.ReviewAppRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	p, err := a.store.GetPipeline(r.PathValue("pipeline"))
	if err != nil {
		return err
	}
	if req.PR < 0 || req.PR == 0 && req.Branch == "" {
		return invalidf("give the review app's branch, and its pull request number if it has one")
	}
	name := api.ReviewAppName(p.Name, req.PR, req.Branch)
	auditNote(r, name, p.Name)
	if p.Review.Template == "" {
		return conflictf("pipeline %s has no review app template: set one with `pier pipelines review --template APP %s`", p.Name, p.Name)
	}
	vars, err := a.store.Config(p.Review.Template)
	if err != nil {
		return err
	}
	for _, k := range p.Review.NoCopy {
		delete(vars, k)
	}
	changes := map[string]*string{}
	for k, v := range req.Env {
		changes[k] = &v
	}
	if len(changes) > 0 {
		if err := checkConfigChanges(changes); err != nil {
			return err
		}
	}
	maps.Copy(vars, req.Env)
	if err := checkConfigTotal(name, vars, slices.Collect(maps.Keys(req.Env))); err != nil {
		return err
	}
	app, err := a.newApp(name, userOf(r))
	if err != nil {
		return err
	}
	undo := func(err error) error {
		if derr := a.deploy.destroy(context.WithoutCancel(r.Context()), name); derr != nil {
			a.logf("removing the half-made review app %s: %v", name, derr)
		}
		return err
	}
	if err := a.store.SetConfig(name, vars); err != nil {
		return undo(err)
	}
	if _, err := a.store.AddToPipeline(p.Name, name, api.StageReview); err != nil {
		return undo(err)
	}
	writeJSON(w, http.StatusCreated, a.present(app))
	return nil
}

// expireReviewApps destroys the review apps of pipelines with an idle
// limit that have not been deployed (or made) for that long.
func (dp *deployer) expireReviewApps() {
	ps, err := dp.store.ListPipelines()
	if err != nil {
		return
	}
	now := time.Now()
	for _, p := range ps {
		if p.Review.ExpireIdle <= 0 {
			continue
		}
		for _, name := range p.AppsAt(api.StageReview) {
			last, err := dp.lastActivity(name)
			if err != nil || now.Sub(last) < time.Duration(p.Review.ExpireIdle) {
				continue
			}
			ctx, cancel := context.WithTimeout(dp.ctx, time.Minute)
			err = dp.destroy(ctx, name)
			cancel()
			if err != nil && !errors.Is(err, context.Canceled) {
				dp.logf("destroying the idle review app %s: %v", name, err)
				continue
			}
			dp.logf("destroyed review app %s of pipeline %s: idle for over %s", name, p.Name, time.Duration(p.Review.ExpireIdle))
		}
	}
}

// lastActivity is when app was made or last released.
func (dp *deployer) lastActivity(name string) (time.Time, error) {
	app, err := dp.store.GetApp(name)
	if err != nil {
		return time.Time{}, err
	}
	last := app.CreatedAt
	rels, err := dp.store.ListReleases(name)
	if err != nil {
		return time.Time{}, err
	}
	for _, r := range rels {
		if r.CreatedAt.After(last) {
			last = r.CreatedAt
		}
	}
	return last, nil
}
