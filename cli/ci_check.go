package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/pierhq/pier/api"
)

// smokeWait bounds how long a smoke check is retried while a release
// comes up behind the proxy.
const smokeWait = 30 * time.Second

// check follows version of app: it must be live, pass the smoke check, and
// stay live through the app's watch window, in which pier rolls back a
// release that turns bad.
func (r *ciRun) check(ctx context.Context, app string, version int) ciResult {
	res := ciResult{App: app, Release: version, Status: ciFailed}
	a, err := r.cl.GetApp(ctx, app)
	if err != nil {
		res.Reason = err.Error()
		return res
	}
	res.URL = a.WebURL
	if rel, err := r.release(ctx, app, version); err != nil {
		res.Reason = err.Error()
		return res
	} else if rel.Status == api.StatusFailed {
		// It went live (the push or promotion succeeded): pier rolled it
		// back already.
		res.Status, res.Reason = ciRolledBack, fmt.Sprintf("v%d failed: %s", version, rel.Reason)
		return res
	}
	if a.LiveRelease != version {
		res.Reason = fmt.Sprintf("v%d is not live: v%d is", version, a.LiveRelease)
		return res
	}
	base := r.smoke.base
	if base == "" || len(r.results) > 0 {
		base = a.WebURL // --url is the first app's; promoted ones have their own
	}
	progress(r.c, "-----> Smoke check of %s v%d: GET %s%s\n", app, version, base, r.smoke.path)
	if err := r.smoke.wait(ctx, base, smokeWait); err != nil {
		res.Reason = "smoke check failed: " + err.Error()
		r.rollbackAfter(ctx, app, &res)
		return res
	}
	window := time.Duration(a.WatchWindow)
	if window == 0 {
		window = r.watch
	}
	progress(r.c, "-----> Watching %s v%d for %s\n", app, version, window)
	if rel, bad := r.watchRelease(ctx, app, version, window); bad {
		res.Status, res.Reason = ciRolledBack, fmt.Sprintf("v%d failed in its watch window: %s", version, rel.Reason)
		return res
	}
	if err := r.smoke.once(ctx, base); err != nil {
		res.Reason = "smoke check failed after the watch window: " + err.Error()
		r.rollbackAfter(ctx, app, &res)
		return res
	}
	res.Status = ciSucceeded
	return res
}

// watchRelease polls version until window has passed; bad reports that
// pier marked it failed (it rolled it back).
func (r *ciRun) watchRelease(ctx context.Context, app string, version int, window time.Duration) (api.Release, bool) {
	end := time.Now().Add(window + time.Second)
	for {
		rel, err := r.release(ctx, app, version)
		if err == nil && rel.Status == api.StatusFailed {
			return rel, true
		}
		if !time.Now().Before(end) || ctx.Err() != nil {
			return rel, false
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// rollbackAfter rolls app back when asked to, after its live release
// failed its smoke check.
func (r *ciRun) rollbackAfter(ctx context.Context, app string, res *ciResult) {
	if !r.rollbackOnFailure {
		return
	}
	rel, err := r.cl.Rollback(ctx, app, 0)
	if err != nil {
		res.Reason += "; the rollback failed too: " + err.Error()
		return
	}
	res.Status = ciRolledBack
	res.Reason += fmt.Sprintf("; rolled back: v%d is live (%s)", rel.Version, rel.Description)
}

func (r *ciRun) release(ctx context.Context, app string, version int) (api.Release, error) {
	rels, err := r.cl.Releases(ctx, app)
	if err != nil {
		return api.Release{}, err
	}
	for _, rel := range rels {
		if rel.Version == version {
			return rel, nil
		}
	}
	return api.Release{}, fmt.Errorf("%s has no release v%d", app, version)
}
