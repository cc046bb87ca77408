package nomad

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAddonJobSpec checks the job of an add-on as built; there is no
// Nomad to run it here (a Nomad cluster's docker driver would).
func TestAddonJobSpec(t *testing.T) {
	job, err := AddonJobSpec(AddonJob{Name: "shop-postgres", Type: "postgres", Version: "15", Node: "db-1", Volume: "pier-shop-postgres", MemoryMB: 512}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if *job.ID != "pier-addon-shop-postgres" || len(job.TaskGroups) != 1 {
		t.Fatalf("job %s with %d groups", *job.ID, len(job.TaskGroups))
	}
	if len(job.Constraints) != 1 || job.Constraints[0].LTarget != "${node.unique.name}" || job.Constraints[0].RTarget != "db-1" {
		t.Errorf("not pinned to its node: %+v", job.Constraints)
	}
	tg := job.TaskGroups[0]
	if *tg.Count != 1 || tg.Volumes["data"].Type != "host" || tg.Volumes["data"].Source != "pier-shop-postgres" {
		t.Errorf("group: count %d, volumes %+v", *tg.Count, tg.Volumes["data"])
	}
	if len(tg.Services) != 1 || tg.Services[0].Name != "pier-addon-shop-postgres" || tg.Services[0].Provider != "nomad" {
		t.Errorf("service: %+v", tg.Services)
	}
	if p := tg.Networks[0].DynamicPorts[0]; p.Label != "db" || p.To != 5432 {
		t.Errorf("port %+v", p)
	}
	task := tg.Tasks[0]
	if task.Driver != "docker" || task.Config["image"] != "postgres:15" || *task.VolumeMounts[0].Destination != "/var/lib/postgresql/data" {
		t.Errorf("task: %s %v %s", task.Driver, task.Config, *task.VolumeMounts[0].Destination)
	}
	if task.Env["POSTGRES_USER"] != "shop_postgres" || *task.Resources.MemoryMB != 512 {
		t.Errorf("env %v, memory %d", task.Env, *task.Resources.MemoryMB)
	}
	tmpl := *task.Templates[0].EmbeddedTmpl
	if !strings.Contains(tmpl, `nomadVar "nomad/jobs/pier-addon-shop-postgres"`) || !strings.Contains(tmpl, "POSTGRES_PASSWORD=") {
		t.Errorf("the password's template: %s", tmpl)
	}
	b, _ := json.Marshal(job)
	if strings.Contains(string(b), "PASSWORD=secret") {
		t.Error("a password in the job")
	}

	r, err := AddonJobSpec(AddonJob{Name: "cache", Type: "redis", Version: "7", Node: "n", Volume: "v"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rt := r.TaskGroups[0].Tasks[0]; rt.Config["image"] != "redis:7" || !strings.Contains(strings.Join(rt.Config["args"].([]string), " "), "--requirepass") {
		t.Errorf("redis task config %v", rt.Config)
	}
	for _, bad := range []AddonJob{
		{Name: "x", Type: "mysql", Node: "n", Volume: "v"},
		{Name: "Bad", Type: "redis", Node: "n", Volume: "v"},
		{Name: "x", Type: "redis"},
	} {
		if _, err := AddonJobSpec(bad, Options{}); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}
