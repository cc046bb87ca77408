package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestSampleAppPostgres deploys the sample app with a PostgreSQL add-on:
// its release command migrates the database, the worker takes a job
// queued in the jobs table and writes its result to the results table,
// the page works in Chromium, and the next release's migration applies
// nothing twice.
func TestSampleAppPostgres(t *testing.T) {
	needE2E(t)
	requireAddonServers(t)
	a := startAgent(t, agentOpts{})
	const app = "textlens-pg"
	a.mustPier("apps", "create", app)
	a.mustPier("addons", "create", "postgres", "-a", app)
	a.mustPier("config", "set", "-a", app, "WORKER_POLL_INTERVAL=200ms")
	shareGoBuildCache(t, a, app)
	repo := sampleAppRepo(t)
	repo.remote(a, app, a.token)
	out, err := repo.push("main")
	if err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	for _, want := range []string{"Running release command: migrate", "postgres schema upgraded to version 1", "Released v1"} {
		if !strings.Contains(out, want) {
			t.Errorf("the push's output lacks %q:\n%s", want, out)
		}
	}
	a.mustPier("scale", "-a", app, "worker=1")
	if code, body, _ := a.get(app, "/api/info"); code != 200 || !strings.Contains(body, `"storage":"postgres"`) && !strings.Contains(body, `"storage": "postgres"`) {
		t.Errorf("/api/info = %d %s, want storage postgres", code, body)
	}

	a.mustPier("pg", "psql", "-a", app, "-c", "INSERT INTO jobs (name, text) VALUES ('review', $t$"+positiveText+"$t$)")
	var res jobResult
	deadline := time.Now().Add(60 * time.Second)
	for res.Job == "" && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		out := a.pier("pg", "psql", "-a", app, "-c", "SELECT result FROM results WHERE job = 'review'")
		for _, l := range strings.Split(out.stdout, "\n") {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "{") {
				json.Unmarshal([]byte(l), &res)
			}
		}
	}
	if res.Job != "review" || res.Result.Sentiment.Label != "positive" {
		t.Fatalf("the worker's result: %+v\nps:\n%s\nlogs:\n%s", res, a.mustPier("ps", "-a", app), a.mustPier("logs", "-a", app, "-n", "200"))
	}
	if out := a.mustPier("pg", "psql", "-a", app, "-c", "SELECT state FROM jobs WHERE name = 'review'"); !strings.Contains(out, "done") {
		t.Errorf("the job's state:\n%s", out)
	}
	t.Run("browser", func(t *testing.T) {
		browserTest(t, a, app, "Release v1 · slot blue")
	})
	if r := a.pier("config", "set", "-a", app, "MODEL=logreg"); r.code != 0 {
		t.Fatalf("config set: %s", r.stderr)
	}
	if rel := lastRelease(t, a, app); rel.Version != 2 || rel.Status != "live" {
		t.Errorf("the second release is v%d %s", rel.Version, rel.Status)
	}
	if out := a.mustPier("pg", "psql", "-a", app, "-c", "SELECT 'applied=' || count(*) FROM schema_migrations"); !strings.Contains(out, "applied=1") {
		t.Errorf("after the second release's migration:\n%s", out)
	}
}
