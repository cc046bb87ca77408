package nomad

import (
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// An add-on on Nomad is a job of its own: one instance of the official
// PostgreSQL or Redis image (the docker driver), pinned to the node that
// holds its data in a host volume, registered in Nomad's service catalog
// so that apps find its address. There is no failover: when that node is
// gone, so is the database until it comes back (docs/addons.md).

// AddonJob describes an add-on's job.
type AddonJob struct {
	Name    string // the add-on's name
	Type    string // postgres or redis
	Version string // the image's tag: "15", "7"
	// Node is the Nomad node (its name) that holds Volume, a host_volume
	// of its client configuration; the job runs there only.
	Node     string
	Volume   string
	MemoryMB int
	CPU      int // MHz
}

const addonPortLabel = "db"

var addonNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`) })

// AddonJobID is the job of the add-on name.
func AddonJobID(name string) string { return jobPrefix + "addon-" + name }

// AddonServiceName is the service the add-on registers in Nomad's catalog.
func AddonServiceName(name string) string { return "pier-addon-" + name }

// AddonJobSpec is the Nomad job of an add-on. Its password is no part of
// it: a template reads it from the Nomad Variable at nomad/jobs/JOBID
// (key PASSWORD) into the task's environment.
func AddonJobSpec(a AddonJob, o Options) (*api.Job, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if !addonNameRE().MatchString(a.Name) {
		return nil, fmt.Errorf("invalid add-on name %q", a.Name)
	}
	if a.Node == "" || a.Volume == "" {
		return nil, fmt.Errorf("add-on %s: name the node and its host volume that keep its data", a.Name)
	}
	image, mount, port, args := "", "", 0, []string(nil)
	switch a.Type {
	case "postgres":
		image, mount, port = "postgres:"+a.Version, "/var/lib/postgresql/data", 5432
	case "redis":
		image, mount, port = "redis:"+a.Version, "/data", 6379
		args = []string{"sh", "-c", `exec redis-server --appendonly yes --requirepass "$PASSWORD" --maxmemory "${MAXMEMORY}mb" --maxmemory-policy noeviction`}
	default:
		return nil, fmt.Errorf("unknown add-on type %q: use postgres or redis", a.Type)
	}
	if a.MemoryMB <= 0 {
		a.MemoryMB = 256
	}
	if a.CPU <= 0 {
		a.CPU = 500
	}
	id := AddonJobID(a.Name)
	job := api.NewServiceJob(id, id, o.Region, 60)
	if o.Region == "" {
		job.Region = nil
	}
	if o.Namespace != "" {
		job.Namespace = ptr(o.Namespace)
	}
	job.Datacenters = o.Datacenters
	job.Meta = map[string]string{"pier_addon": a.Name, "pier_addon_type": a.Type}
	job.Constrain(api.NewConstraint("${node.unique.name}", "=", a.Node))

	tg := api.NewTaskGroup("db", 1)
	tg.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: addonPortLabel, To: port}}}}
	tg.Volumes = map[string]*api.VolumeRequest{"data": {Name: "data", Type: "host", Source: a.Volume}}
	tg.RestartPolicy = &api.RestartPolicy{Attempts: ptr(10), Interval: ptr(5 * time.Minute), Delay: ptr(time.Second), Mode: ptr("delay")}
	tg.Services = []*api.Service{{
		Name:      AddonServiceName(a.Name),
		PortLabel: addonPortLabel,
		Provider:  "nomad",
		Tags:      []string{"pier", "addon-" + a.Type},
		Checks:    []api.ServiceCheck{{Name: "listening", Type: "tcp", Interval: 5 * time.Second, Timeout: 2 * time.Second}},
	}}
	// The task is named for its group, as the apps' are: waitStarted
	// reads its state under that name.
	task := api.NewTask("db", "docker")
	task.Config = map[string]any{"image": image, "ports": []string{addonPortLabel}}
	if args != nil {
		task.Config["command"], task.Config["args"] = args[0], args[1:]
	}
	task.VolumeMounts = []*api.VolumeMount{{Volume: ptr("data"), Destination: ptr(mount)}}
	task.Env = map[string]string{"MAXMEMORY": fmt.Sprint(a.MemoryMB)}
	if a.Type == "postgres" {
		task.Env["POSTGRES_USER"], task.Env["POSTGRES_DB"] = dbRole(a.Name), dbRole(a.Name)
		task.Env["POSTGRES_INITDB_ARGS"] = "--auth=scram-sha-256"
	}
	pw := `{{ with nomadVar "` + variablePath(id) + `" }}PASSWORD={{ .PASSWORD | toJSON }}
{{ end }}`
	if a.Type == "postgres" {
		pw = `{{ with nomadVar "` + variablePath(id) + `" }}POSTGRES_PASSWORD={{ .PASSWORD | toJSON }}
{{ end }}`
	}
	task.Templates = []*api.Template{{EmbeddedTmpl: ptr(pw), DestPath: ptr("secrets/password.env"), Envvars: ptr(true), ChangeMode: ptr("restart")}}
	task.Resources = &api.Resources{CPU: ptr(a.CPU), MemoryMB: ptr(a.MemoryMB)}
	task.KillTimeout = ptr(30 * time.Second)
	task.LogConfig = &api.LogConfig{MaxFiles: ptr(5), MaxFileSizeMB: ptr(10)}
	tg.AddTask(task)
	job.AddTaskGroup(tg)
	return job, nil
}

// dbRole is the database and role of a PostgreSQL add-on, as on one VM.
func dbRole(name string) string {
	out := []byte(name)
	for i, c := range out {
		if c == '-' {
			out[i] = '_'
		}
	}
	return string(out)
}
