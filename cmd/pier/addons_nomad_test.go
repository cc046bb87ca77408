package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/internal/nomadstub"
)

// TestAddonOnNomad: with the Nomad scheduler and --addon-node, an add-on
// is a Nomad job pinned to that node with its host volume, its password in
// the job's Variable, and DATABASE_URL is the address Nomad's service
// catalog gives; attach finds it there again; psql says why it cannot
// reach it; destroy deregisters the job. Nomad cannot run here: the agent
// talks to a stand-in for Nomad's API (internal/nomadstub) through the
// real nomad/api client; scheduler/nomad's TestAddonOnDevAgent runs a
// real agent when one is installed.
func TestAddonOnNomad(t *testing.T) {
	needE2E(t)
	n := nomadstub.Start(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_SCHEDULER=nomad", "PIER_NOMAD_ADDR=" + n.URL, "PIER_ADDON_NODE=db-1"}})
	a.mustPier("apps", "create", "shop")
	a.mustPier("apps", "create", "shop-worker")

	out := a.mustPier("addons", "create", "postgres", "-a", "shop")
	if !strings.Contains(out, "Created shop-postgres (postgres 16) as DATABASE_URL") {
		t.Fatalf("addons create printed %q", out)
	}
	url := strings.TrimSpace(a.mustPier("config", "get", "-a", "shop", "DATABASE_URL"))
	if !strings.HasPrefix(url, "postgres://shop_postgres:") || !strings.HasSuffix(url, "@10.0.0.7:23456/shop_postgres") {
		t.Fatalf("DATABASE_URL = %q", url)
	}
	password := strings.TrimPrefix(strings.Split(url, "@")[0], "postgres://shop_postgres:")
	job := n.Job("pier-addon-shop-postgres")
	if job == nil {
		t.Fatal("no job registered on Nomad")
	}
	if c := job.Constraints; len(c) != 1 || c[0].RTarget != "db-1" {
		t.Errorf("the job's constraints: %+v", c)
	}
	if v := job.TaskGroups[0].Volumes["data"]; v == nil || v.Type != "host" || v.Source != "pier-addon-shop-postgres" {
		t.Errorf("the job's volume: %+v", v)
	}
	if img := job.TaskGroups[0].Tasks[0].Config["image"]; img != "postgres:16" {
		t.Errorf("the job's image: %v", img)
	}
	if b, _ := json.Marshal(job); strings.Contains(string(b), password) {
		t.Error("the password is in the job")
	}
	if got := n.Variable("nomad/jobs/pier-addon-shop-postgres")["PASSWORD"]; got != password {
		t.Errorf("the job's Variable holds %q", got)
	}
	if ad := addonOf(t, a, "shop", "shop-postgres"); ad.State != "on Nomad node db-1" || ad.Version != "16" {
		t.Errorf("addons info: %+v", ad)
	}

	a.mustPier("addons", "attach", "-a", "shop-worker", "shop-postgres")
	if got := strings.TrimSpace(a.mustPier("config", "get", "-a", "shop-worker", "DATABASE_URL")); got != url {
		t.Errorf("the worker's DATABASE_URL = %q, want %q", got, url)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"pg", "psql", "-a", "shop", "-c", "SELECT 1"}, "runs on Nomad"},
		{[]string{"addons", "create", "redis", "-a", "shop", "--listen", "10.0.0.9"}, "--listen is for add-ons on the agent's host"},
		{[]string{"addons", "create", "redis", "-a", "shop", "--version", "latest"}, `--version "latest"`},
	} {
		if r := a.pier(bad.args...); r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("pier %s: exit %d, want an error with %q:\n%s%s", strings.Join(bad.args, " "), r.code, bad.want, r.stdout, r.stderr)
		}
	}
	var list []api.Addon
	a.pierJSON(&list, "addons", "list", "-a", "shop")
	if len(list) != 1 {
		t.Errorf("after the bad input the add-ons are %+v", list)
	}

	a.mustPier("addons", "destroy", "-a", "shop", "shop-postgres", "--confirm", "shop-postgres")
	if jobs, vars := n.Counts(); jobs != 0 || vars != 0 {
		t.Errorf("after destroy Nomad holds %d jobs, %d variables", jobs, vars)
	}
	for _, app := range []string{"shop", "shop-worker"} {
		if r := a.pier("config", "get", "-a", app, "DATABASE_URL"); strings.TrimSpace(r.stdout) != "" {
			t.Errorf("after destroy %s has DATABASE_URL %q", app, r.stdout)
		}
	}
}
