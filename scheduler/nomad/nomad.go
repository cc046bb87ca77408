// Package nomad is the Scheduler that runs releases on a HashiCorp Nomad
// cluster: one Nomad job per app and slot (pier-APP-blue, pier-APP-green),
// one task group per process type. The cluster holds all the state, so an
// agent started against a cluster that already runs pier jobs adopts them.
package nomad

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// Drivers a task may run with.
const (
	DriverRawExec = "raw_exec"
	DriverExec    = "exec"
)

// callTimeout bounds every single request to Nomad that is not a stream or
// a blocking query.
const callTimeout = 15 * time.Second

// Resources are the cpu (MHz) and memory (MB) one instance reserves.
type Resources struct {
	CPU      int
	MemoryMB int
}

// DefaultResources are used for process types Options.Resources does not name.
var DefaultResources = Resources{CPU: 100, MemoryMB: 256}

// Options configure a Scheduler.
type Options struct {
	// Address of the Nomad HTTP API; "" takes Nomad's own defaults
	// (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_CACERT, NOMAD_REGION...).
	Address, Token, CACert, Region, Namespace string
	Driver                                    string   // "raw_exec" (default) | "exec"
	Datacenters                               []string // default ["dc1"]
	// Resources per process type: "APP/TYPE" first, then "TYPE", then ""
	// (the default for all), then DefaultResources.
	Resources map[string]Resources
	// OnChange is called when an instance of app starts, moves, dies or
	// stops. It runs on a goroutine of its own and must not block for long.
	OnChange func(app string)
	Logf     func(format string, args ...any) // diagnostics (may be nil)
	// SlugKey signs the URLs at which Nomad clients fetch slugs from the
	// agent (SignSlugURL); the agent derives it from its secret key.
	SlugKey []byte
}

// Scheduler runs releases on a Nomad cluster.
type Scheduler struct {
	c    *api.Client
	opts Options

	appMu sync.Map // app -> *sync.Mutex, serializes Deploy/Scale/Restart/Stop

	pidMu sync.Mutex
	pids  map[pidKey]int // cached pids of running tasks

	runMu  sync.Mutex
	runSeq map[string]int

	cpu cpuMeter // instances' CPU time, from the shares their clients report

	notify *notifier
	done   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

var _ scheduler.Scheduler = (*Scheduler)(nil)

// New connects to the cluster and checks that it answers and that the
// token may read jobs, then follows the cluster's events.
func New(o Options) (*Scheduler, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	cfg := api.DefaultConfig()
	if o.Address != "" {
		cfg.Address = o.Address
	}
	if o.Token != "" {
		cfg.SecretID = o.Token
	}
	if o.CACert != "" {
		cfg.TLSConfig.CACert = o.CACert
	}
	if o.Region != "" {
		cfg.Region = o.Region
	}
	if o.Namespace != "" {
		cfg.Namespace = o.Namespace
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("nomad scheduler: connecting to %s: %w", cfg.Address, err)
	}
	s := &Scheduler{c: c, opts: o, pids: map[pidKey]int{}, runSeq: map[string]int{}, done: make(chan struct{})}
	if err := s.check(cfg.Address); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.notify = newNotifier(o.OnChange)
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.notify.run(s.done) }()
	go func() { defer s.wg.Done(); s.watch(ctx) }()
	return s, nil
}

func (o Options) withDefaults() (Options, error) {
	switch o.Driver {
	case "":
		o.Driver = DriverRawExec
	case DriverRawExec, DriverExec:
	default:
		return o, fmt.Errorf("nomad scheduler: unknown driver %q: use %q or %q", o.Driver, DriverRawExec, DriverExec)
	}
	if len(o.Datacenters) == 0 {
		o.Datacenters = []string{"dc1"}
	}
	return o, nil
}

// check asks the cluster for its leader, then lists pier's jobs, which
// needs a token that may read jobs when ACLs are on.
func (s *Scheduler) check(addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	q := query(ctx)
	var leader string
	if _, err := s.c.Raw().Query("/v1/status/leader", &leader, q); err != nil {
		return fmt.Errorf("nomad scheduler: Nomad at %s does not answer: %w (check --nomad-addr or NOMAD_ADDR, and that the cluster has a leader)", addr, err)
	}
	q = query(ctx)
	q.Prefix = jobPrefix
	if _, _, err := s.c.Jobs().List(q); err != nil {
		if isForbidden(err) {
			return fmt.Errorf("nomad scheduler: Nomad at %s refuses the token: %w (set NOMAD_TOKEN to a token whose policy is in docs/nomad.md)", addr, err)
		}
		return fmt.Errorf("nomad scheduler: listing jobs on %s: %w", addr, err)
	}
	return nil
}

// Ping asks the cluster for its leader.
func (s *Scheduler) Ping(ctx context.Context) error {
	var leader string
	if _, err := s.c.Raw().Query("/v1/status/leader", &leader, query(ctx)); err != nil {
		return fmt.Errorf("Nomad does not answer: %w", err)
	}
	return nil
}

var _ scheduler.Pinger = (*Scheduler)(nil)

// Close stops following the cluster. Jobs keep running; the next agent
// adopts them.
func (s *Scheduler) Close() error {
	s.once.Do(func() {
		close(s.done)
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
	})
	return nil
}

func (s *Scheduler) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// appLock serializes the changes to one app.
func (s *Scheduler) appLock(app string) func() {
	m, _ := s.appMu.LoadOrStore(app, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// query returns QueryOptions bound to ctx.
func query(ctx context.Context) *api.QueryOptions {
	return (&api.QueryOptions{}).WithContext(ctx)
}

func write(ctx context.Context) *api.WriteOptions {
	return (&api.WriteOptions{}).WithContext(ctx)
}

// callCtx bounds one call by callTimeout within ctx.
func callCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

func isForbidden(err error) bool {
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode() == http.StatusForbidden
	}
	return strings.Contains(err.Error(), "403") || strings.Contains(err.Error(), "Permission denied")
}

func isNotFound(err error) bool {
	//lint:ignore SA1019 the words of older servers, which still answer so
	if strings.Contains(err.Error(), api.ErrVariableNotFound) {
		return true // older servers answer it so
	}
	var ue api.UnexpectedResponseError
	if errors.As(err, &ue) {
		return ue.StatusCode() == http.StatusNotFound
	}
	return strings.Contains(err.Error(), "404")
}

// Names of jobs, groups and services.
const jobPrefix = "pier-"

var (
	nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`) })
	runRE  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(.+)-run-(\d+)$`) })
	slots  = []string{"blue", "green"}
)

func checkName(what, name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", what, name)
	}
	return nil
}

// JobID is the Nomad job of an app's slot: pier-APP-SLOT.
func JobID(app, slot string) string { return jobPrefix + app + "-" + slot }

func runJobID(app string, n int) string { return fmt.Sprintf("%s%s-run-%d", jobPrefix, app, n) }

// parseJobID returns the app and slot of a pier job ("run" for one-offs).
func parseJobID(id string) (app, slot string, ok bool) {
	rest, ok := strings.CutPrefix(id, jobPrefix)
	if !ok {
		return "", "", false
	}
	if m := runRE().FindStringSubmatch(rest); m != nil {
		return m[1], "run", true
	}
	for _, sl := range slots {
		if a, ok := strings.CutSuffix(rest, "-"+sl); ok && a != "" {
			return a, sl, true
		}
	}
	return "", "", false
}

// serviceName is the Nomad service of a slot's web instances; Nomad wants
// DNS-like names of at most 63 characters.
func serviceName(app, slot string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(JobID(app, slot) + "-web") {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	n := b.String()
	if len(n) > 63 {
		n = strings.TrimRight(n[:63], "-")
	}
	return n
}

// variablePath is where a slot's config vars are kept; a job's tasks may
// read nomad/jobs/JOBID without any policy.
func variablePath(jobID string) string { return "nomad/jobs/" + jobID }
