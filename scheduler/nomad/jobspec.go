package nomad

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// Names inside a job.
const (
	portLabel      = "http"      // the dynamic port of every instance, $PORT
	slugDir        = "local/app" // where the artifact unpacks, relative to the task dir
	configFile     = "secrets/config.env"
	pidFile        = "local/pier.pid" // one pid a line, one line per start
	listeningCheck = "listening"
	maxCount       = 100 // instances of one process type
	killTimeout    = 10 * time.Second
)

// Meta keys of pier's jobs.
const (
	metaApp     = "pier_app"
	metaSlot    = "pier_slot"
	metaRelease = "pier_release"
	metaSlug    = "pier_slug_sha256"
)

var envKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// reservedEnv are set by pier; config vars of the same names are dropped.
var reservedEnv = map[string]bool{"PORT": true, "DYNO": true, "PIER_APP": true, "PIER_RELEASE": true, "PIER_SLOT": true, "HOME": true}

// startScript is what every task runs: it sets the variables that depend
// on the instance, records its pid and execs the process's command ($2)
// with stderr merged into stdout, in the order the process wrote them.
const startScript = `export DYNO="$1" HOME="$NOMAD_TASK_DIR/app"
case "$DYNO" in *.) DYNO="$DYNO$((NOMAD_ALLOC_INDEX + 1))" ;; esac
export PATH="$HOME/bin:$PATH"
cd "$HOME" || exit 1
echo $$ >> "$NOMAD_TASK_DIR/pier.pid"
exec 2>&1
exec /bin/sh -c "$2"`

// JobSpec is the Nomad job of a deployment: one task group per process
// type with its count from the formation, every instance on a dynamic
// port ($PORT), the slug fetched by an artifact block from d.SlugURL with
// its checksum, and the config vars read by a template from the Nomad
// Variable at nomad/jobs/JOBID (written by Deploy; see ConfigVariable), so
// they show neither in the job nor in its meta.
func JobSpec(d scheduler.Deployment, o Options) (*api.Job, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := checkDeployment(d); err != nil {
		return nil, err
	}
	id := JobID(d.App, d.Slot)
	job := baseJob(id, api.JobTypeService, d, o)
	job.Update = &api.UpdateStrategy{MaxParallel: ptr(0)} // the slot is replaced at once
	types := make([]string, 0, len(d.Processes))
	for typ := range d.Processes {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		tg := taskGroup(d, o, typ, typ+".", d.Processes[typ], d.Formation[typ])
		tg.RestartPolicy = &api.RestartPolicy{
			Attempts: ptr(10), Interval: ptr(5 * time.Minute),
			Delay: ptr(time.Second), Mode: ptr("delay"),
		}
		if typ == "web" {
			tg.Services = []*api.Service{webService(d)}
		}
		job.AddTaskGroup(tg)
	}
	return job, nil
}

// checkDeployment refuses a deployment Nomad could not run as asked.
func checkDeployment(d scheduler.Deployment) error {
	if err := checkName("app", d.App); err != nil {
		return err
	}
	if d.Slot != "blue" && d.Slot != "green" {
		return fmt.Errorf("invalid slot %q: use blue or green", d.Slot)
	}
	if len(d.Processes) == 0 {
		return fmt.Errorf("release v%d of %s has no process types: add a Procfile", d.Release, d.App)
	}
	for typ, cmd := range d.Processes {
		if err := checkName("process type", typ); err != nil {
			return err
		}
		if strings.TrimSpace(cmd) == "" {
			return fmt.Errorf("process type %s has an empty command", typ)
		}
	}
	if err := checkFormation(d.Processes, d.Formation); err != nil {
		return err
	}
	for k := range d.Env {
		if !envKeyRE().MatchString(k) {
			return fmt.Errorf("config var name %q: use letters, digits and '_', not starting with a digit", k)
		}
	}
	if d.SlugURL == "" {
		return fmt.Errorf("release v%d of %s has no slug URL for Nomad to fetch: start the agent with an advertise address the Nomad clients reach", d.Release, d.App)
	}
	if b, err := hex.DecodeString(d.SlugSHA256); err != nil || len(b) != 32 {
		return fmt.Errorf("slug checksum %q is not a sha256 in hex", d.SlugSHA256)
	}
	return nil
}

func checkFormation(procs map[string]string, f scheduler.Formation) error {
	for typ, n := range f {
		if _, ok := procs[typ]; !ok {
			return fmt.Errorf("unknown process type %q: the release has %s", typ, strings.Join(sortedKeys(procs), ", "))
		}
		if n < 0 || n > maxCount {
			return fmt.Errorf("%s=%d: the count must be between 0 and %d", typ, n, maxCount)
		}
	}
	return nil
}

// baseJob is the job without task groups.
func baseJob(id, typ string, d scheduler.Deployment, o Options) *api.Job {
	job := api.NewServiceJob(id, id, o.Region, 50)
	job.Type = ptr(typ)
	if o.Region == "" {
		job.Region = nil
	}
	if o.Namespace != "" {
		job.Namespace = ptr(o.Namespace)
	}
	job.Datacenters = o.Datacenters
	job.Meta = map[string]string{
		metaApp: d.App, metaSlot: d.Slot,
		metaRelease: strconv.Itoa(d.Release), metaSlug: d.SlugSHA256,
	}
	return job
}

// taskGroup is one process type: its task runs startScript with the
// command, dyno is "web." (the index is added) or a full name ("run.3").
func taskGroup(d scheduler.Deployment, o Options, typ, dyno, command string, count int) *api.TaskGroup {
	tg := api.NewTaskGroup(typ, count)
	tg.Networks = []*api.NetworkResource{{DynamicPorts: []api.Port{{Label: portLabel}}}}
	task := api.NewTask(typ, o.Driver)
	task.Config = map[string]any{
		"command": "/bin/sh",
		"args":    []string{"-c", startScript, "pier", dyno, command},
	}
	task.Env = map[string]string{
		"PORT":         "${NOMAD_PORT_" + portLabel + "}",
		"PIER_APP":     d.App,
		"PIER_RELEASE": "v" + strconv.Itoa(d.Release),
		"PIER_SLOT":    d.Slot,
		"PATH":         "/usr/local/bin:/usr/bin:/bin",
	}
	task.Artifacts = []*api.TaskArtifact{{
		GetterSource: ptr(d.SlugURL),
		GetterOptions: map[string]string{
			"checksum": "sha256:" + d.SlugSHA256,
			"archive":  "tar.gz",
		},
		RelativeDest: ptr(slugDir),
	}}
	if len(configVars(d.Env)) > 0 {
		task.Templates = []*api.Template{{
			EmbeddedTmpl: ptr(configTemplate(JobID(d.App, d.Slot))),
			DestPath:     ptr(configFile),
			Envvars:      ptr(true),
			ChangeMode:   ptr("noop"), // new config comes with a new release
		}}
	}
	r := o.resources(d.App, typ)
	if mb := d.MemoryMB[typ]; mb > 0 {
		r.MemoryMB = mb
	}
	task.Resources = &api.Resources{CPU: ptr(r.CPU), MemoryMB: ptr(r.MemoryMB)}
	task.KillTimeout = ptr(killTimeout)
	task.LogConfig = &api.LogConfig{MaxFiles: ptr(5), MaxFileSizeMB: ptr(10)}
	tg.AddTask(task)
	return tg
}

// webService registers the web instances in Nomad's own service catalog,
// with an http check.
func webService(d scheduler.Deployment) *api.Service {
	return &api.Service{
		Name:      serviceName(d.App, d.Slot),
		PortLabel: portLabel,
		Provider:  "nomad",
		Tags:      []string{"pier", "app-" + strings.ToLower(d.App), "slot-" + d.Slot},
		Checks: []api.ServiceCheck{
			// "listening" says an instance is up; "http" is for people
			// and Nomad's UI, as an app may answer / with an error.
			{Name: listeningCheck, Type: "tcp", Interval: 2 * time.Second, Timeout: time.Second},
			{Name: "http", Type: "http", Path: "/", Interval: 10 * time.Second, Timeout: 2 * time.Second},
		},
	}
}

// configTemplate renders the Variable's items as an env file; toJSON
// quotes and escapes each value the way Nomad's env file parser reads.
func configTemplate(jobID string) string {
	return `{{ with nomadVar "` + variablePath(jobID) + `" }}{{ range .Tuples }}{{ .K }}={{ .V | toJSON }}
{{ end }}{{ end }}`
}

// configVars are the config vars that go to the Variable.
func configVars(env map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		if !reservedEnv[k] {
			out[k] = v
		}
	}
	return out
}

func (o Options) resources(app, typ string) Resources {
	for _, k := range []string{app + "/" + typ, typ, ""} {
		if r, ok := o.Resources[k]; ok {
			if r.CPU <= 0 {
				r.CPU = DefaultResources.CPU
			}
			if r.MemoryMB <= 0 {
				r.MemoryMB = DefaultResources.MemoryMB
			}
			return r
		}
	}
	return DefaultResources
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func ptr[T any](v T) *T { return &v }
