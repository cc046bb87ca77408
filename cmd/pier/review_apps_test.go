package main

import (
	"strings"
	"testing"
	"time"
)

// TestReviewApps: a pipeline's review app for a pull request gets the
// template's config minus the vars marked not to copy, plus app.json's
// environments.review, runs the branch, runs scripts.postdeploy once, and
// prints its URL; a second one of the same name is refused; a branch that
// fails to deploy leaves no app; destroy removes it; an idle limit
// destroys one by itself.
func TestReviewApps(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	const staging = "rv-staging"
	a.mustPier("apps", "create", staging)
	t.Cleanup(func() { a.pier("apps", "destroy", "-a", staging, "--confirm", staging) })
	a.mustPier("config", "set", "-a", staging, "COLOR=teal", "PAYMENT_KEY=live-secret")
	a.mustPier("pipelines", "create", "rv")
	a.mustPier("pipelines", "add", "-a", staging, "--stage", "staging", "rv")
	if r := a.pier("review-apps", "create", "--pipeline", "rv", "--branch", "main", "--pr", "1"); r.code == 0 || !strings.Contains(r.stderr, "no review app template") {
		t.Errorf("a review app without a template: exit %d\n%s", r.code, r.stderr)
	}
	a.mustPier("pipelines", "review", "--template", staging, "--no-copy", "PAYMENT_KEY", "rv")

	repo := newPrebuiltRepo(t, "hello")
	repo.git("checkout", "-q", "-b", "feature")
	repo.write("app.json", `{
  "healthchecks": {"web": [{"type": "startup", "path": "/healthz", "attempts": 5, "timeout": 2, "wait": 1}]},
  "scripts": {"postdeploy": "echo top-level postdeploy"},
  "environments": {"review": {
    "env": {"REVIEW": "yes", "COLOR": {"value": "pink"}},
    "scripts": {"postdeploy": "echo postdeploy ran in $PIER_APP"}
  }}
}`)

	r := a.pierIn(repo.dir, "review-apps", "create", "--pipeline", "rv", "--branch", "feature", "--pr", "7")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "http://rv-pr-7.localhost:"+port(a.httpAddr) || !strings.Contains(r.stderr, "postdeploy ran in rv-pr-7") {
		t.Fatalf("review-apps create: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	if code, body, _ := a.get("rv-pr-7", "/"); code != 200 || body != "hello from rv-pr-7 v1 blue color=pink\n" {
		t.Errorf("the review app: GET / = %d %q", code, body)
	}
	if got := strings.TrimSpace(a.mustPier("config", "get", "-a", "rv-pr-7", "REVIEW")); got != "yes" {
		t.Errorf("REVIEW = %q, want app.json's environments.review value", got)
	}
	if out := a.mustPier("config", "-a", "rv-pr-7"); strings.Contains(out, "PAYMENT_KEY") || strings.Contains(out, "live-secret") {
		t.Errorf("the review app got the var marked not to copy:\n%s", out)
	}
	if info := a.mustPier("pipelines", "info", "rv"); !strings.Contains(info, "review") || !strings.Contains(info, "rv-pr-7") {
		t.Errorf("pipelines info does not list the review app:\n%s", info)
	}

	// The same pull request again: refused, the app untouched.
	r = a.pierIn(repo.dir, "review-apps", "create", "--pipeline", "rv", "--branch", "feature", "--pr", "7")
	if r.code == 0 || !strings.Contains(r.stderr, `an app named "rv-pr-7" already exists`) {
		t.Errorf("a second review app rv-pr-7: exit %d\n%s", r.code, r.stderr)
	}
	if n := len(releasesOf(t, a, "rv-pr-7")); n != 1 {
		t.Errorf("the refused create changed rv-pr-7: %d releases", n)
	}

	// A branch whose release fails: no app is left.
	repo.git("checkout", "-q", "-b", "broken")
	repo.write("app.json", `{"environments": {"review": {"env": {"RELEASE_FAIL": "1"}}}}`)
	r = a.pierIn(repo.dir, "review-apps", "create", "--pipeline", "rv", "--branch", "broken", "--pr", "8")
	if r.code == 0 || !strings.Contains(r.stderr, "review app rv-pr-8 was removed") {
		t.Errorf("a review app of a branch that fails: exit %d\n%s", r.code, r.stderr)
	}
	if r := a.pier("apps", "info", "-a", "rv-pr-8"); r.code == 0 {
		t.Errorf("the failed review app rv-pr-8 is still there:\n%s", r.stdout)
	}

	a.mustPier("review-apps", "destroy", "--pipeline", "rv", "--pr", "7")
	if r := a.pier("apps", "info", "-a", "rv-pr-7"); r.code == 0 {
		t.Errorf("rv-pr-7 is still there after destroy")
	}
	if r := a.pier("review-apps", "destroy", "--pipeline", "rv", "--branch", "rv-staging"); r.code == 0 || !strings.Contains(r.stderr, "no review app") {
		t.Errorf("destroy of an app that is no review app: exit %d\n%s", r.code, r.stderr)
	}

	// An idle limit: the janitor destroys the app once it is over it.
	repo.git("checkout", "-q", "feature")
	r = a.pierIn(repo.dir, "review-apps", "create", "--pipeline", "rv", "--branch", "feature")
	if r.code != 0 || !strings.Contains(r.stdout, "rv-feature.localhost") {
		t.Fatalf("a branch's review app: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	a.mustPier("pipelines", "review", "--template", staging, "--no-copy", "PAYMENT_KEY", "--expire-idle", "3s", "rv")
	waitFor(t, 45*time.Second, "the idle review app to be destroyed", func() bool {
		return a.pier("apps", "info", "-a", "rv-feature").code != 0
	})
	if info := a.mustPier("pipelines", "info", "rv"); strings.Contains(info, "rv-feature") || !strings.Contains(info, staging) {
		t.Errorf("after the expiry the pipeline is:\n%s", info)
	}
}
