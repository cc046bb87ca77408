// Package scheduler defines how pier runs the processes of a release: the
// Scheduler interface, implemented by scheduler/local (this host) and
// scheduler/nomad (a Nomad cluster). Schedulers only run what they are told
// and report what runs; the agent's deployer decides what that is.
package scheduler

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/pierhq/pier/sandbox"
)

// ErrNotFound is returned for an app or slot the scheduler runs nothing of.
var ErrNotFound = errors.New("not running")

// Formation is the wanted number of instances per process type.
type Formation map[string]int

// Deployment is one release started in one slot.
type Deployment struct {
	App     string
	Slot    string // "blue" or "green"
	Release int    // version, N of vN

	// Slug is the path of the release's slug (tar.gz) on this host, and
	// SlugSHA256 its checksum. A remote scheduler serves it from SlugURL.
	Slug       string
	SlugSHA256 string
	SlugURL    string

	// Processes maps a process type to its command (from the Procfile or the
	// buildpack's defaults). Formation says how many of each run.
	Processes map[string]string
	Formation Formation
	// MemoryMB caps the memory of a process type's instances, in MiB; a
	// type without an entry gets the scheduler's default (the local
	// scheduler's is no limit). An instance over its limit is killed and
	// restarted.
	MemoryMB map[string]int

	// Env is the release's config vars; the scheduler adds PORT, DYNO,
	// PIER_APP, PIER_RELEASE and PIER_SLOT.
	Env map[string]string

	// User is the app's own unprivileged user: the local scheduler runs
	// its processes as that user, with the slug read-only and a private
	// writable HOME. The zero Identity runs them as the agent's user.
	// Nomad's task drivers isolate tasks by their own means.
	User sandbox.Identity
}

// Instance is one process as the scheduler sees it.
type Instance struct {
	App       string
	Slot      string
	Release   int
	Type      string // "web"
	Index     int    // 1-based: web.1
	Addr      string // host:port it listens on (web processes)
	Node      string
	ID        string // the scheduler's own name for it: Nomad's allocation ID
	PID       int
	State     string // starting, up, crashed, stopped (api.State*)
	Restarts  int    // after a crash
	StartedAt time.Time

	// Memory is the instance's memory in bytes as last measured, and
	// MemoryLimit its type's limit; 0 when not known or none. OOMKills
	// counts the times it was killed over its limit (R15). The local
	// scheduler measures instances that have a limit; Nomad's instances
	// are measured when a Measurer is asked.
	Memory, MemoryLimit int64
	OOMKills            int
	// CPU is the CPU time, in seconds, that the instance's processes have
	// used, as last measured (the local scheduler: since it last started;
	// Nomad: estimated, see Measurer); CPUKnown says whether it was.
	CPU      float64
	CPUKnown bool
}

// Measurer is a scheduler that measures instances' memory only when asked
// (Nomad: a call to the node that runs each one), rather than as it lists
// them. Measure fills in what it can in place and leaves the rest as it was.
type Measurer interface {
	Measure(ctx context.Context, ins []Instance)
}

// Name is the Heroku-style dyno name, "web.1".
func (i Instance) Name() string { return i.Type + "." + strconv.Itoa(i.Index) }

// LogOptions select log lines of an app's processes.
type LogOptions struct {
	Lines   int    // the last N lines (0: 100; negative: none, only new lines with Follow)
	Follow  bool   // keep streaming
	Process string // only this process type
}

// OneOff is a command run once in a release's slug, like `heroku run`.
type OneOff struct {
	Deployment           // the release to run it in (Formation is ignored)
	Command    string    // run with sh -c
	Stdin      io.Reader // may be nil
	Output     io.Writer // stdout and stderr, interleaved
	Timeout    time.Duration
}

// Scheduler runs releases in slots. Every method is safe for concurrent use.
type Scheduler interface {
	// Deploy starts the release in d.Slot with d.Formation, replacing what
	// ran in that slot before. It returns once the processes are started
	// (not necessarily healthy); Instances reports their addresses.
	Deploy(ctx context.Context, d Deployment) error
	// Scale changes the counts of a slot's process types; a type set to 0
	// stops. Instances that stay are not restarted.
	Scale(ctx context.Context, app, slot string, f Formation) error
	// Restart replaces the slot's instances one by one (rolling).
	Restart(ctx context.Context, app, slot string) error
	// Stop stops every process of the slot ("" for every slot of the app).
	Stop(ctx context.Context, app, slot string) error
	// Instances lists what runs for the app, in every slot.
	Instances(ctx context.Context, app string) ([]Instance, error)
	// Logs streams the app processes' log lines in Heroku's format
	// ("2026-11-26T12:00:00.123456+00:00 app[web.1]: text").
	Logs(ctx context.Context, app string, o LogOptions) (io.ReadCloser, error)
	// Run runs a one-off process and returns its exit code.
	Run(ctx context.Context, app string, r OneOff) (exitCode int, err error)
	// Close stops the scheduler's own goroutines. Processes keep running
	// (they are re-adopted by the next agent); use Stop to end them.
	Close() error
}

// Pinger is a scheduler that runs elsewhere (a cluster) and can say
// whether it answers; one in the agent's process needs no Ping.
type Pinger interface {
	Ping(ctx context.Context) error
}
