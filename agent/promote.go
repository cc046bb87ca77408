package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/procfile"
)

// promote deploys the live release of from, unbuilt, to the apps
// downstream of it in its pipeline (to, or else the apps of the next stage
// that has any): each gets a new release of the same slug and commit with
// its own config, deployed blue/green. version, when not 0, is the release
// the caller means to promote: one that is no longer live is refused. Every
// target is checked and locked before any is deployed, so a refusal
// changes nothing; a target whose deploy fails keeps its live release and
// says why in the answer while the others go on. allow says whether the
// caller may deploy to a target.
func (dp *deployer) promote(ctx context.Context, from string, version int, to []string, allow func(app string) error, user string, out io.Writer) (api.Promotion, error) {
	src, rel, err := dp.promotable(from, version)
	if err != nil {
		return api.Promotion{}, err
	}
	targets, err := dp.promotionTargets(from, to)
	if err != nil {
		return api.Promotion{}, err
	}
	for _, t := range targets {
		if err := allow(t); err != nil {
			return api.Promotion{}, err
		}
	}
	slices.Sort(targets) // one order of locks for every promotion
	var unlocks []func()
	defer func() {
		for _, u := range unlocks {
			u()
		}
	}()
	apps := make([]api.App, 0, len(targets))
	for _, t := range targets {
		unlock, err := dp.tryLockApp(ctx, t)
		if err != nil {
			return api.Promotion{}, err
		}
		unlocks = append(unlocks, unlock)
		app, err := dp.store.GetApp(t)
		if err != nil {
			return api.Promotion{}, promoteMissing(err, t)
		}
		if err := sameProcessTypes(src.Name, rel, app); err != nil {
			return api.Promotion{}, err
		}
		apps = append(apps, app)
	}
	p := api.Promotion{From: from, Release: rel.Version, Commit: rel.Commit, SlugID: rel.SlugID}
	for _, app := range apps {
		r, err := dp.promoteTo(ctx, app, src.Name, rel, user, out)
		t := api.PromotionTarget{App: app.Name, Release: r}
		if err != nil {
			t.Error = err.Error()
		}
		p.Targets = append(p.Targets, t)
	}
	return p, nil
}

// promotable returns from and its live release, which must have a slug
// still kept; version, when not 0, must be that release.
func (dp *deployer) promotable(from string, version int) (api.App, api.Release, error) {
	src, err := dp.store.GetApp(from)
	if err != nil {
		return api.App{}, api.Release{}, err
	}
	if src.LiveRelease == 0 {
		return api.App{}, api.Release{}, conflictf("%s has no live release to promote: deploy it first", from)
	}
	if version != 0 && version != src.LiveRelease {
		status := "unknown"
		if r, err := dp.store.GetRelease(from, version); err == nil {
			status = r.Status
		}
		return api.App{}, api.Release{}, conflictf("v%d of %s is not live (%s): v%d is; promote only what runs upstream", version, from, status, src.LiveRelease)
	}
	rel, err := dp.store.GetRelease(from, src.LiveRelease)
	if err != nil {
		return api.App{}, api.Release{}, err
	}
	if rel.SlugID == "" {
		return api.App{}, api.Release{}, conflictf("v%d of %s has no build to promote", rel.Version, from)
	}
	if _, err := os.Stat(dp.dirs.slugPath(rel.SlugID)); err != nil {
		return api.App{}, api.Release{}, conflictf("the slug of v%d of %s is no longer kept; deploy its commit to %s again first", rel.Version, from, from)
	}
	return src, rel, nil
}

// promotionTargets checks the apps a promotion from from goes to: each is
// in from's pipeline at a later stage (so promotions cannot go round in a
// circle), none is from itself, none is named twice. No names: the apps of
// the next stage that has any.
func (dp *deployer) promotionTargets(from string, to []string) ([]string, error) {
	p, ok, err := dp.store.PipelineOf(from)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, conflictf("%s is in no pipeline: add it with `pier pipelines add -a %s --stage staging PIPELINE`", from, from)
	}
	stage := api.StageIndex(p.StageOf(from))
	if len(to) == 0 {
		for _, s := range api.Stages[stage+1:] {
			if to = p.AppsAt(s); len(to) > 0 {
				break
			}
		}
		if len(to) == 0 {
			return nil, conflictf("no app of pipeline %s is downstream of %s (stage %s): add one with `pier pipelines add -a APP --stage production %s`", p.Name, from, p.StageOf(from), p.Name)
		}
		return to, nil
	}
	seen := map[string]bool{}
	for _, t := range to {
		switch {
		case t == from:
			return nil, invalidf("%s cannot be promoted to itself", from)
		case seen[t]:
			return nil, invalidf("%s is named twice", t)
		}
		seen[t] = true
		if _, err := dp.store.GetApp(t); err != nil {
			return nil, promoteMissing(err, t)
		}
		ts := p.StageOf(t)
		switch {
		case ts == "":
			return nil, conflictf("%s is not in pipeline %s: promotions go to apps of the same pipeline (`pier pipelines add -a %s --stage production %s`)", t, p.Name, t, p.Name)
		case api.StageIndex(ts) <= stage:
			return nil, conflictf("%s is at stage %s, not downstream of %s at stage %s: promotions go to a later stage", t, ts, from, p.StageOf(from))
		}
	}
	return to, nil
}

func promoteMissing(err error, app string) error {
	if errors.Is(err, store.ErrAppNotFound) {
		return notFoundf("cannot promote to %s: there is no app %q (see `pier apps list`)", app, app)
	}
	return err
}

// sameProcessTypes refuses a promotion to an app that runs other process
// types than rel brings: its formation would not fit. An app never
// deployed takes any.
func sameProcessTypes(from string, rel api.Release, to api.App) error {
	if to.LiveRelease == 0 {
		return nil
	}
	have, want := procfile.Types(withoutRelease(to.Processes)), procfile.Types(withoutRelease(rel.Processes))
	if slices.Equal(have, want) {
		return nil
	}
	return conflictf("the process types differ: v%d of %s has %s, %s runs %s; deploy %s so they match, then promote",
		rel.Version, from, typeList(want), to.Name, typeList(have), to.Name)
}

func typeList(types []string) string {
	if len(types) == 0 {
		return "none"
	}
	return strings.Join(types, ", ")
}

// promoteTo deploys rel of from to app with app's own config; the caller
// holds app's lock.
func (dp *deployer) promoteTo(ctx context.Context, app api.App, from string, rel api.Release, user string, out io.Writer) (api.Release, error) {
	vars, err := dp.store.Config(app.Name)
	if err != nil {
		return api.Release{}, err
	}
	desc := fmt.Sprintf("Promote v%d of %s", rel.Version, from)
	if rel.Commit != "" {
		desc += fmt.Sprintf(" (commit %s)", shortCommit(rel.Commit))
	}
	nr, err := dp.store.CreateRelease(api.Release{
		App:         app.Name,
		Description: desc,
		Status:      api.StatusPending,
		Commit:      rel.Commit,
		SlugID:      rel.SlugID,
		Buildpack:   rel.Buildpack,
		Processes:   rel.Processes,
		CreatedBy:   user,
	}, vars)
	if err != nil {
		return api.Release{}, err
	}
	fmt.Fprintf(out, "-----> Promoting v%d of %s to %s as v%d\n", rel.Version, from, app.Name, nr.Version)
	dp.releaseCreated(nr)
	if err := dp.deployRelease(ctx, app, nr, vars, out); err != nil {
		got, _ := dp.store.GetRelease(app.Name, nr.Version)
		return got, err
	}
	dp.metrics.deployEnded(app.Name, deploySucceeded, "promote")
	return dp.store.GetRelease(app.Name, nr.Version)
}
