package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

// The outcomes of `pier ci deploy`, its "status" output.
const (
	ciSucceeded  = "succeeded"
	ciFailed     = "failed"
	ciRolledBack = "rolled-back"
)

func ciDeployCommand() *ucli.Command {
	return &ucli.Command{
		Name: "deploy",
		Usage: "push a ref to an app, wait for its release, smoke-test it through its watch window, " +
			"promote it, and write release, url and status to $GITHUB_OUTPUT; exit non-zero when any step failed or pier rolled back",
		Flags: appFlags(
			&ucli.StringFlag{Name: "ref", Value: "HEAD", Usage: "the git `REF` to deploy, from the checkout in the current directory"},
			&ucli.BoolFlag{Name: "force", Usage: "force the push (history rewritten since the last deploy)"},
			&ucli.StringFlag{Name: "smoke-path", Value: "/", Usage: "the `PATH` the smoke check requests"},
			&ucli.StringFlag{Name: "smoke-text", Usage: "`TEXT` the smoke check's answer must contain (an error page with 200 fails)"},
			&ucli.StringFlag{Name: "url", Usage: "the app's base `URL` for the smoke check (default: its web URL)"},
			&ucli.DurationFlag{Name: "timeout", Value: 15 * time.Minute, Usage: "give up after `D`, push and checks together"},
			&ucli.StringFlag{Name: "promote-to", Usage: "after success, promote to `APPS` (comma-separated, or \"next\" for the next stage) and check them the same way"},
			&ucli.BoolFlag{Name: "rollback-on-failure", Usage: "roll an app back when its smoke check fails after its release went live"},
			&ucli.StringFlag{Name: "github-token", EnvVars: []string{"PIER_GITHUB_TOKEN"}, Usage: "report a GitHub Deployment and its statuses with this `TOKEN` (GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_API_URL from the runner)"},
			&ucli.StringFlag{Name: "environment", Usage: "the GitHub environment `NAME` of the app (default: the app's name); promoted apps use theirs"},
		),
		Action: runCIDeploy,
	}
}

// ciRun is one `pier ci deploy`.
type ciRun struct {
	c                 *ucli.Context
	cl                *api.Client
	smoke             smokeCheck
	rollbackOnFailure bool
	gh                *ghDeployments // nil: no GitHub reporting
	watch             time.Duration  // the agent's default watch window
	results           []ciResult
}

// ciResult is what happened to one app.
type ciResult struct {
	App     string `json:"app"`
	Release int    `json:"release,omitempty"`
	URL     string `json:"url,omitempty"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

func runCIDeploy(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Context, c.Duration("timeout"))
	defer cancel()
	v, err := cl.Version(ctx)
	if err != nil {
		return err
	}
	r := &ciRun{c: c, cl: cl, rollbackOnFailure: c.Bool("rollback-on-failure"), watch: time.Duration(v.WatchWindow),
		smoke: smokeCheck{path: c.String("smoke-path"), text: c.String("smoke-text"), base: c.String("url")}}
	if tok := c.String("github-token"); tok != "" {
		if r.gh, err = newGHDeployments(tok); err != nil {
			return err
		}
	}
	res := r.deploy(ctx, app)
	if res.Status == ciSucceeded && c.String("promote-to") != "" {
		r.promote(ctx, app, res.Release, c.String("promote-to"))
	}
	return r.finish()
}

// deploy pushes the ref to app and checks the release it makes.
func (r *ciRun) deploy(ctx context.Context, app string) ciResult {
	env := r.c.String("environment")
	if env == "" {
		env = app
	}
	dep := r.gh.start(ctx, env, app, r.c.App.ErrWriter)
	before, err := r.cl.GetApp(ctx, app)
	if err != nil {
		return r.record(dep, ciResult{App: app, Status: ciFailed, Reason: err.Error()})
	}
	progress(r.c, "-----> Pushing %s to %s\n", r.c.String("ref"), app)
	if err := gitPushApp(ctx, r.c, app, r.c.String("ref"), r.c.Bool("force")); err != nil {
		res := ciResult{App: app, Status: ciFailed, Reason: err.Error(), URL: before.WebURL}
		if rel, ok := r.newRelease(ctx, app, before.LiveRelease); ok {
			res.Release = rel.Version
		}
		return r.record(dep, res)
	}
	rel, ok := r.newRelease(ctx, app, before.LiveRelease)
	if !ok {
		// Nothing new: the ref was deployed already; check what is live.
		rel = api.Release{App: app, Version: before.LiveRelease}
		progress(r.c, "-----> Nothing new to deploy: checking v%d\n", rel.Version)
	}
	return r.record(dep, r.check(ctx, app, rel.Version))
}

// promote promotes app's release and checks every app it went to.
func (r *ciRun) promote(ctx context.Context, app string, version int, to string) {
	req := api.PromoteRequest{Release: version}
	if to != "next" {
		for _, t := range strings.Split(to, ",") {
			if t = strings.TrimSpace(t); t != "" {
				req.To = append(req.To, t)
			}
		}
	}
	progress(r.c, "-----> Promoting v%d of %s\n", version, app)
	p, err := r.cl.Promote(ctx, app, req)
	if err != nil {
		r.results = append(r.results, ciResult{App: to, Status: ciFailed, Reason: "promotion refused: " + err.Error()})
		return
	}
	for _, t := range p.Targets {
		dep := r.gh.start(ctx, t.App, t.App, r.c.App.ErrWriter)
		if t.Error != "" {
			r.record(dep, ciResult{App: t.App, Release: t.Release.Version, Status: ciFailed, Reason: t.Error})
			continue
		}
		r.record(dep, r.check(ctx, t.App, t.Release.Version))
	}
}

// newRelease finds the release a push made: the newest after live.
func (r *ciRun) newRelease(ctx context.Context, app string, live int) (api.Release, bool) {
	rels, err := r.cl.Releases(ctx, app)
	if err != nil {
		return api.Release{}, false
	}
	var newest api.Release
	for _, rel := range rels {
		if rel.Version > live && rel.Version > newest.Version {
			newest = rel
		}
	}
	return newest, newest.Version != 0
}

// record keeps res, says it, and reports it to GitHub.
func (r *ciRun) record(dep *ghDeployment, res ciResult) ciResult {
	r.results = append(r.results, res)
	if res.Status == ciSucceeded {
		progress(r.c, "-----> %s v%d %s: %s\n", res.App, res.Release, res.Status, res.URL)
	} else {
		progress(r.c, "-----> %s %s: %s\n", res.App, res.Status, res.Reason)
	}
	dep.finish(res, r.c.App.ErrWriter)
	return res
}

// finish writes the outputs and the exit status: the first app's release,
// url and status, and every app's in "results".
func (r *ciRun) finish() error {
	first := r.results[0]
	status := first.Status
	failed := 0
	for _, res := range r.results {
		if res.Status != ciSucceeded {
			failed++
			if status == ciSucceeded {
				status = res.Status
			}
		}
	}
	outs := []ghOutput{
		{"release", versionName(first.Release)},
		{"url", first.URL},
		{"status", status},
	}
	var promoted []string
	for _, res := range r.results[1:] {
		promoted = append(promoted, res.App+"="+versionName(res.Release)+":"+res.Status)
	}
	outs = append(outs, ghOutput{"promoted", strings.Join(promoted, ",")})
	if err := writeGitHubOutputs(outs); err != nil {
		return err
	}
	if wantJSON(r.c) {
		if err := printJSON(r.c, r.results); err != nil {
			return err
		}
	} else {
		t := newTable(r.c.App.Writer, "APP", "RELEASE", "STATUS", "URL")
		for _, res := range r.results {
			t.row(res.App, versionName(res.Release), res.Status, res.URL)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &exitError{code: 1, msg: fmt.Sprintf("the deploy %s: %s", status, reasons(r.results))}
	}
	return nil
}

func reasons(rs []ciResult) string {
	var out []string
	for _, r := range rs {
		if r.Reason != "" {
			out = append(out, r.App+": "+r.Reason)
		}
	}
	return strings.Join(out, "; ")
}
