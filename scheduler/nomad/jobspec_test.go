package nomad

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

const testSHA = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testDeployment() scheduler.Deployment {
	return scheduler.Deployment{
		App: "shop", Slot: "green", Release: 7,
		SlugURL: "http://10.0.0.5:7070/slugs/s1.tar.gz?expires=1&sig=ab", SlugSHA256: testSHA,
		Processes: map[string]string{"web": "bin/web", "worker": "bin/worker -q"},
		Formation: scheduler.Formation{"web": 3},
		Env:       map[string]string{"DATABASE_URL": "postgres://u:hunter2@db/shop", "PORT": "1"},
	}
}

func TestJobSpec(t *testing.T) {
	job, err := JobSpec(testDeployment(), Options{Resources: map[string]Resources{"web": {CPU: 500, MemoryMB: 1024}}})
	if err != nil {
		t.Fatal(err)
	}
	if *job.ID != "pier-shop-green" || *job.Type != "service" || job.Datacenters[0] != "dc1" {
		t.Errorf("job %s type %s dcs %v", *job.ID, *job.Type, job.Datacenters)
	}
	if job.Meta[metaRelease] != "7" || job.Meta[metaApp] != "shop" {
		t.Errorf("meta %v", job.Meta)
	}
	if len(job.TaskGroups) != 2 {
		t.Fatalf("%d groups, want web and worker", len(job.TaskGroups))
	}
	web, worker := job.TaskGroups[0], job.TaskGroups[1]
	if *web.Name != "web" || *web.Count != 3 || *worker.Name != "worker" || *worker.Count != 0 {
		t.Errorf("groups %s=%d %s=%d, want web=3 worker=0", *web.Name, *web.Count, *worker.Name, *worker.Count)
	}
	task := web.Tasks[0]
	if task.Name != "web" || task.Driver != "raw_exec" {
		t.Errorf("task %s driver %s", task.Name, task.Driver)
	}
	args := task.Config["args"].([]string)
	if task.Config["command"] != "/bin/sh" || args[len(args)-1] != "bin/web" || args[len(args)-2] != "web." {
		t.Errorf("config %v", task.Config)
	}
	a := task.Artifacts[0]
	if *a.GetterSource != testDeployment().SlugURL || a.GetterOptions["checksum"] != "sha256:"+testSHA || *a.RelativeDest != "local/app" {
		t.Errorf("artifact %s %v -> %s", *a.GetterSource, a.GetterOptions, *a.RelativeDest)
	}
	if p := web.Networks[0].DynamicPorts; len(p) != 1 || p[0].Label != "http" || task.Env["PORT"] != "${NOMAD_PORT_http}" {
		t.Errorf("ports %v PORT=%q", p, task.Env["PORT"])
	}
	if task.Env["PIER_RELEASE"] != "v7" || task.Env["PIER_SLOT"] != "green" || task.Env["PIER_APP"] != "shop" {
		t.Errorf("env %v", task.Env)
	}
	if len(web.Services) != 1 || len(worker.Services) != 0 {
		t.Fatalf("services web %d worker %d, want a web service only", len(web.Services), len(worker.Services))
	}
	svc := web.Services[0]
	if svc.Provider != "nomad" || svc.PortLabel != "http" || svc.Name != "pier-shop-green-web" ||
		len(svc.Checks) != 2 || svc.Checks[0].Type != "tcp" || svc.Checks[1].Type != "http" || svc.Checks[1].Path != "/" {
		t.Errorf("service %+v", svc)
	}
	if *task.Resources.CPU != 500 || *task.Resources.MemoryMB != 1024 {
		t.Errorf("web resources %d MHz %d MB", *task.Resources.CPU, *task.Resources.MemoryMB)
	}
	if r := worker.Tasks[0].Resources; *r.CPU != DefaultResources.CPU || *r.MemoryMB != DefaultResources.MemoryMB {
		t.Errorf("worker resources %d MHz %d MB", *r.CPU, *r.MemoryMB)
	}
	tmpl := task.Templates[0]
	if !*tmpl.Envvars || *tmpl.DestPath != "secrets/config.env" || !strings.Contains(*tmpl.EmbeddedTmpl, `nomadVar "nomad/jobs/pier-shop-green"`) {
		t.Errorf("template %s -> %s env %v", *tmpl.EmbeddedTmpl, *tmpl.DestPath, *tmpl.Envvars)
	}
	b, _ := json.Marshal(job)
	if strings.Contains(string(b), "hunter2") || strings.Contains(string(b), "DATABASE_URL") {
		t.Errorf("a config var is in the job itself: %s", b)
	}
	if *job.Update.MaxParallel != 0 || *web.RestartPolicy.Mode != "delay" {
		t.Errorf("update %d restart %s", *job.Update.MaxParallel, *web.RestartPolicy.Mode)
	}
}

func TestJobSpecExecDriverAndNoConfig(t *testing.T) {
	d := testDeployment()
	d.Env = nil
	job, err := JobSpec(d, Options{Driver: "exec", Datacenters: []string{"eu1", "eu2"}, Namespace: "apps"})
	if err != nil {
		t.Fatal(err)
	}
	task := job.TaskGroups[0].Tasks[0]
	if task.Driver != "exec" || len(task.Templates) != 0 || *job.Namespace != "apps" || len(job.Datacenters) != 2 {
		t.Errorf("driver %s templates %d namespace %v dcs %v", task.Driver, len(task.Templates), job.Namespace, job.Datacenters)
	}
}

func TestJobSpecRefusesBadInput(t *testing.T) {
	for name, change := range map[string]func(*scheduler.Deployment){
		"unknown type":   func(d *scheduler.Deployment) { d.Formation = scheduler.Formation{"wrk": 1} },
		"negative count": func(d *scheduler.Deployment) { d.Formation = scheduler.Formation{"web": -1} },
		"no slug url":    func(d *scheduler.Deployment) { d.SlugURL = "" },
		"bad checksum":   func(d *scheduler.Deployment) { d.SlugSHA256 = "abc" },
		"bad slot":       func(d *scheduler.Deployment) { d.Slot = "red" },
		"bad app":        func(d *scheduler.Deployment) { d.App = "../x" },
		"bad env name":   func(d *scheduler.Deployment) { d.Env = map[string]string{"A=B": "x"} },
		"no processes":   func(d *scheduler.Deployment) { d.Processes = nil; d.Formation = nil },
	} {
		d := testDeployment()
		change(&d)
		if _, err := JobSpec(d, Options{}); err == nil {
			t.Errorf("%s: JobSpec accepted it", name)
		}
	}
	if _, err := JobSpec(testDeployment(), Options{Driver: "docker"}); err == nil {
		t.Errorf("an unknown driver was accepted")
	}
}

func TestRunJobSpec(t *testing.T) {
	job, err := runJobSpec(testDeployment(), Options{}, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	tg := job.TaskGroups[0]
	if *job.ID != "pier-shop-run-4" || *job.Type != api.JobTypeBatch || *tg.Count != 1 || *tg.RestartPolicy.Attempts != 0 {
		t.Errorf("job %s type %s count %d", *job.ID, *job.Type, *tg.Count)
	}
	if !strings.Contains(*tg.Tasks[0].Templates[0].EmbeddedTmpl, "nomad/jobs/pier-shop-run-4") {
		t.Errorf("the one-off reads another job's config: %s", *tg.Tasks[0].Templates[0].EmbeddedTmpl)
	}
}

func TestJobIDs(t *testing.T) {
	for id, want := range map[string][2]string{
		"pier-shop-blue":       {"shop", "blue"},
		"pier-my-app-green":    {"my-app", "green"},
		"pier-blue-blue":       {"blue", "blue"},
		"pier-shop-run-12":     {"shop", "run"},
		"pier-shop-run-x-blue": {"shop-run-x", "blue"},
	} {
		app, slot, ok := parseJobID(id)
		if !ok || app != want[0] || slot != want[1] {
			t.Errorf("parseJobID(%s) = %s %s %v, want %v", id, app, slot, ok, want)
		}
	}
	for _, id := range []string{"web", "pier-shop", "pier--blue", "other-shop-blue"} {
		if _, _, ok := parseJobID(id); ok {
			t.Errorf("parseJobID(%s) took it for pier's", id)
		}
	}
	if n := serviceName("My_App.x", "blue"); n != "pier-my-app-x-blue-web" {
		t.Errorf("serviceName = %s", n)
	}
}

// TestJobSpecMemoryOfTheDeployment: `pier scale web=2:512M` reaches the
// task's resources, over the scheduler's defaults.
func TestJobSpecMemoryOfTheDeployment(t *testing.T) {
	d := testDeployment()
	d.MemoryMB = map[string]int{"web": 512}
	job, err := JobSpec(d, Options{Resources: map[string]Resources{"web": {CPU: 500, MemoryMB: 1024}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range job.TaskGroups {
		r := tg.Tasks[0].Resources
		switch *tg.Name {
		case "web":
			if *r.MemoryMB != 512 || *r.CPU != 500 {
				t.Errorf("web resources %d MHz %d MB, want 500 MHz 512 MB", *r.CPU, *r.MemoryMB)
			}
		default:
			if *r.MemoryMB != DefaultResources.MemoryMB {
				t.Errorf("%s memory %d MB, want the default", *tg.Name, *r.MemoryMB)
			}
		}
	}
}
