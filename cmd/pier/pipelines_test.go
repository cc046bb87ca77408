package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestPipelinePromote: a staging and a production app in one pipeline, with
// different config. A push to staging builds; a promotion runs the same
// slug in production with production's config and builds nothing; a
// second push and promotion under load fails no request. Then the
// promotions pier refuses, each changing nothing.
func TestPipelinePromote(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=3s"}})
	const staging, prod = "shop-staging", "shop"
	stagingAndProduction(t, a, "shop", staging, prod)

	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, staging, a.token)
	mustPush(t, repo, "Released v1")
	commit := strings.TrimSpace(repo.git("rev-parse", "HEAD"))
	slugs := slugFiles(t, a)

	out := a.mustPier("promote", "-a", staging)
	if !regexp.MustCompile(`shop\s+v1\s+live\s+Promote v1 of shop-staging \(commit ` + commit[:7] + `\)`).MatchString(out) {
		t.Errorf("promote printed:\n%s", out)
	}
	if code, body, _ := a.get(prod, "/"); code != 200 || body != "hello from shop v1 blue color=gold\n" {
		t.Errorf("production after the promotion: GET / = %d %q, want staging's build with production's COLOR", code, body)
	}
	if code, body, _ := a.get(staging, "/"); code != 200 || body != "hello from shop-staging v1 blue color=green\n" {
		t.Errorf("staging after the promotion: GET / = %d %q", code, body)
	}
	up, down := releaseOf(t, a, staging, 1), releaseOf(t, a, prod, 1)
	if down.SlugID != up.SlugID || down.Commit != commit {
		t.Errorf("production v1 runs slug %s of commit %s; staging v1 is slug %s of %s", down.SlugID, down.Commit, up.SlugID, commit)
	}
	if got := slugFiles(t, a); got != slugs {
		t.Errorf("the promotion built: the slugs went from %d to %d", slugs, got)
	}
	if logs := a.mustPier("logs", "-a", prod, "-n", "200"); strings.Contains(logs, "Build") || !strings.Contains(logs, "Promote v1 of shop-staging") {
		t.Errorf("production's log shows a build, or no promotion:\n%s", logs)
	}
	if _, env, _ := a.get(prod, "/env"); !strings.Contains(env, "PIER_COMMIT="+commit+"\n") || !strings.Contains(env, "SENTRY_RELEASE="+commit+"\n") {
		t.Errorf("production's dynos do not carry staging's commit %s:\n%s", commit, env)
	}
	if out := a.mustPier("releases", "-a", prod); !strings.Contains(out, "Promote v1 of shop-staging (commit "+commit[:7]+")") {
		t.Errorf("releases of production:\n%s", out)
	}
	info := a.mustPier("pipelines", "info", "shop")
	if !regexp.MustCompile(`staging\s+shop-staging\s+v1\s+`+commit[:7]).MatchString(info) ||
		!regexp.MustCompile(`production\s+shop\s+v1\s+`+commit[:7]).MatchString(info) {
		t.Errorf("pipelines info:\n%s", info)
	}

	// A second push and promotion while clients keep asking production.
	repo.rebuild("howdy")
	mustPush(t, repo, "Released v2")
	tr := startTraffic(t, a, prod, 4, 2, answer{"hello", "v1", "gold"})
	time.Sleep(time.Second)
	tr.during("promote v2", answer{"howdy", "v2", "gold"}, func() { a.mustPier("promote", "-a", staging, "--to", prod) })
	time.Sleep(time.Second)
	tr.stop()
	if n := tr.check(); n < 50 {
		t.Errorf("the clients made only %d requests", n)
	} else {
		t.Logf("the clients made %d requests (%d slow ones) through the promotion, all answered", n, tr.slow)
	}
	if got, want := releaseOf(t, a, prod, 2).SlugID, releaseOf(t, a, staging, 2).SlugID; got != want {
		t.Errorf("production v2 runs slug %s, staging v2 %s", got, want)
	}
	if t.Failed() {
		t.FailNow()
	}
	promoteRefusals(t, a, repo)
}

// promoteRefusals: each bad promotion gets a clear error and production
// keeps v2.
func promoteRefusals(t *testing.T, a *agentProc, repo *gitRepo) {
	const staging, prod = "shop-staging", "shop"
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"promote", "-a", prod}, "no app of pipeline shop is downstream of shop"},
		{[]string{"promote", "-a", staging, "--to", staging}, "cannot be promoted to itself"},
		{[]string{"promote", "-a", staging, "--to", "nope"}, `there is no app "nope"`},
		{[]string{"promote", "-a", staging, "--release", "v1"}, "v1 of shop-staging is not live"},
		{[]string{"pipelines", "add", "-a", prod, "--stage", "staging", "shop"}, "already in pipeline shop at stage production"},
		{[]string{"pipelines", "add", "-a", prod, "--stage", "qa", "shop"}, `"qa" is not a stage`},
	} {
		r := a.pier(c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("pier %s: exit %d, want an error saying %q:\n%s", strings.Join(c.args, " "), r.code, c.want, r.stderr)
		}
	}

	// A deploy token of staging alone may not promote into production; one
	// of both may (shown below with the admin's).
	var ci api.Token
	mustJSON(t, a.mustPier("tokens", "create", "--json", "--role", "deploy", "--app", staging, "ci-staging"), &ci)
	admin := a.token
	a.token = ci.Secret
	r := a.pier("promote", "-a", staging)
	a.token = admin
	if r.code == 0 || !strings.Contains(r.stderr, `app "shop" not found`) {
		t.Errorf("a deploy token of staging alone promoted into production: exit %d\n%s", r.code, r.stderr)
	}

	// Process types that differ: shop-eu runs web alone.
	const eu = "shop-eu"
	a.mustPier("apps", "create", eu)
	t.Cleanup(func() { a.pier("apps", "destroy", "-a", eu, "--confirm", eu) })
	a.mustPier("pipelines", "add", "-a", eu, "--stage", "production", "shop")
	repo.write("Procfile", "web: bluegreen\n")
	repo.remote(a, eu, a.token)
	mustPush(t, repo, "Released v1")
	r = a.pier("promote", "-a", staging)
	if r.code == 0 || !strings.Contains(r.stderr, "the process types differ: v2 of shop-staging has web, worker, shop-eu runs web") {
		t.Errorf("promote to an app of other process types: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(releasesOf(t, a, prod)); n != 2 {
		t.Errorf("a refused promotion made a release of production: it has %d", n)
	}
	a.mustPier("pipelines", "remove", "-a", eu)

	// Two promotions at once: the second is refused while the first runs
	// production's (slow) release command.
	a.mustPier("config", "set", "-a", prod, "RELEASE_SLEEP=7")
	a.mustPier("rollback", "-a", staging, "v1")
	var wg sync.WaitGroup
	results := make([]cliResult, 2)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 1500 * time.Millisecond)
			results[i] = a.pier("promote", "-a", staging)
		}()
	}
	wg.Wait()
	if results[0].code != 0 || results[1].code == 0 || !strings.Contains(results[1].stderr, "another deploy or promotion of shop is in progress") {
		t.Errorf("two promotions at once: first %v %s, second %v %s; want the first to go and the second refused",
			results[0].code, results[0].stderr, results[1].code, results[1].stderr)
	}
	if rel := lastRelease(t, a, prod); rel.Status != api.StatusLive || !strings.HasPrefix(rel.Description, "Promote v3 of shop-staging") {
		t.Errorf("production's last release is %+v, want the first promotion live", rel)
	}
}

// slugFiles counts the slugs the agent keeps.
func slugFiles(t *testing.T, a *agentProc) int {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(a.dataDir, "slugs", "*.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return len(m)
}

// stagingAndProduction makes pipeline with a staging app whose COLOR is
// green and a production app whose COLOR is gold.
func stagingAndProduction(t *testing.T, a *agentProc, pipeline, staging, prod string) {
	t.Helper()
	for app, color := range map[string]string{staging: "green", prod: "gold"} {
		a.mustPier("apps", "create", app)
		t.Cleanup(func() { a.pier("apps", "destroy", "-a", app, "--confirm", app) })
		a.mustPier("config", "set", "-a", app, "COLOR="+color)
	}
	a.mustPier("pipelines", "create", pipeline)
	a.mustPier("pipelines", "add", "-a", staging, "--stage", "staging", pipeline)
	a.mustPier("pipelines", "add", "-a", prod, "--stage", "production", pipeline)
}
