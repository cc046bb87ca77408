// Package addons runs the add-on servers of one host: a PostgreSQL
// cluster or a Redis server per add-on, each in a directory of its own,
// as a user of its own, listening on 127.0.0.1 with a password (and on
// one more address with TLS when asked, tls.go). Its
// Manager supervises them as the local scheduler supervises apps: each
// server leads a session of its own, so it keeps running when the agent
// stops or is killed; a server that ends is started again after a backoff
// (1 s, doubling up to 30 s); and a new Manager on the same directory
// re-adopts the servers it finds running.
//
// Dir holds:
//
//	state.json              the servers and their processes (no secrets)
//	NAME/                   0711 the agent's
//	NAME/data/              0700 the server's user: the cluster or the Redis files
//	NAME/run/               0700 the server's user: PostgreSQL's Unix socket
//	NAME/server.log{,.1}    0600 the agent's: the server's output
//
// Passwords never reach a command line or a log: the server learns its own
// from a file in its data dir, clients get it in their environment.
package addons

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pierhq/pier/internal/proc"
	"github.com/pierhq/pier/sandbox"
)

// The types of add-on.
const (
	Postgres = "postgres"
	Redis    = "redis"
)

// Types are the add-on types this package runs.
var Types = []string{Postgres, Redis}

// States of a server (the words of the apps' instances).
const (
	StateStarting = "starting"
	StateUp       = "up"
	StateCrashed  = "crashed"
)

// Restart backoff after a crash, the same as the apps' (internal/proc).
const (
	minBackoff   = proc.MinBackoff
	maxBackoff   = proc.MaxBackoff
	resetBackoff = proc.ResetBackoff
)

// superviseEvery is how often the servers are checked.
var superviseEvery = 250 * time.Millisecond

// ErrNotFound is the error of a server the Manager does not run.
var ErrNotFound = errors.New("no such add-on server")

// Spec is what a new server is made of.
type Spec struct {
	Name     string           // the add-on's name: its directory, its role and database
	Type     string           // Postgres or Redis
	Version  string           // a major version installed here; "" is the newest
	User     sandbox.Identity // the user it runs as; zero: the agent's
	Password string           // the clients' password
	Port     int              // the port to listen on when it is free; 0 (or taken): a free one
	// Listen is an address of this host's to listen on beside
	// 127.0.0.1, for clients on other hosts: the server then serves TLS
	// only. "": loopback only, plain TCP.
	Listen string
	Limits Limits
	// Seed is a snapshot the server starts with: for Redis an RDB file
	// (what `redis-cli --rdb` writes). PostgreSQL add-ons are loaded
	// from a dump once up instead, and take none.
	Seed string

	superPassword string // PostgreSQL's superuser's, made and forgotten by Create
}

// Limits hold a server to its share of the host.
type Limits struct {
	MemoryMB       int // PostgreSQL's shared_buffers is a quarter of it; Redis's maxmemory
	MaxConnections int // PostgreSQL's max_connections, Redis's maxclients
}

// DefaultLimits suit a small VM that runs a few apps beside their databases.
var DefaultLimits = Limits{MemoryMB: 256, MaxConnections: 50}

// Server is a server the Manager runs: what state.json holds of it.
type Server struct {
	Name      string           `json:"name"`
	Type      string           `json:"type"`
	Version   string           `json:"version"`
	Dir       string           `json:"dir"`
	Port      int              `json:"port"`
	Listen    string           `json:"listen,omitempty"` // Spec.Listen
	TLS       bool             `json:"tls,omitempty"`    // serves TLS only
	User      sandbox.Identity `json:"user,omitzero"`
	Database  string           `json:"database,omitempty"` // PostgreSQL: the database and the role of the clients
	PID       int              `json:"pid"`
	PStart    uint64           `json:"pid_start"`
	State     string           `json:"state"`
	Restarts  int              `json:"restarts"`
	StartedAt time.Time        `json:"started_at"`
}

// Addr is where clients on this host reach the server.
func (s Server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.Port) }

// PublicAddr is where the apps reach the server: Addr, or the address it
// was asked to listen on beyond loopback.
func (s Server) PublicAddr() string {
	if s.Listen == "" {
		return s.Addr()
	}
	return net.JoinHostPort(s.Listen, strconv.Itoa(s.Port))
}

// dataDir is the server's own directory.
func (s Server) dataDir() string { return filepath.Join(s.Dir, "data") }
func (s Server) runDir() string  { return filepath.Join(s.Dir, "run") }
func (s Server) logPath() string { return filepath.Join(s.Dir, "server.log") }

// LogPath is the file the server's output goes to.
func (s Server) LogPath() string { return s.logPath() }

// Options configure a Manager.
type Options struct {
	Dir  string   // <data-dir>/addons
	Bins Binaries // where the servers' programs are
	Logf func(format string, args ...any)
	// OnEvent is told what happens to a server (crashes, restarts), in words.
	OnEvent func(name, msg string)
}

// Manager runs and supervises the servers under Dir.
type Manager struct {
	dir     string
	bins    Binaries
	logf    func(string, ...any)
	onEvent func(string, string)

	mu      sync.Mutex
	servers map[string]*server

	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// server is a supervised server; Server's fields are guarded by
// Manager.mu.
type server struct {
	Server
	backoff   time.Duration
	nextStart time.Time
	upSince   time.Time
	making    bool // Create has not finished: not saved, not supervised
	stopping  bool // being destroyed: not supervised
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`) })

// CheckName refuses a name that is not a valid add-on name.
func CheckName(name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("%q is not a valid add-on name: use lower-case letters, digits and '-', starting with a letter, at most 63", name)
	}
	return nil
}

// New opens Dir and re-adopts the servers state.json lists: one still
// running is supervised again, one that ended is started again.
func New(o Options) (*Manager, error) {
	if o.Dir == "" {
		return nil, errors.New("addons: Options.Dir is empty")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", o.Dir, err)
	}
	m := &Manager{dir: o.Dir, bins: o.Bins, logf: o.Logf, onEvent: o.OnEvent,
		servers: map[string]*server{}, done: make(chan struct{})}
	if m.logf == nil {
		m.logf = func(string, ...any) {}
	}
	if err := m.adopt(); err != nil {
		return nil, err
	}
	m.wg.Add(1)
	go m.supervise()
	return m, nil
}

// Close stops supervising. The servers keep running; the next Manager on
// Dir re-adopts them.
func (m *Manager) Close() {
	m.closeOnce.Do(func() {
		close(m.done)
		m.wg.Wait()
		m.mu.Lock()
		m.saveOrLogLocked()
		m.mu.Unlock()
	})
}

// Get returns the server called name.
func (m *Manager) Get(name string) (Server, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.servers[name]
	if !ok {
		return Server{}, fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return s.Server, nil
}

// List returns every server, by name.
func (m *Manager) List() []Server {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Server, 0, len(m.servers))
	for _, s := range m.servers {
		out = append(out, s.Server)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Create makes the server spec describes and starts it, and returns once
// it accepts its clients. On any failure it leaves nothing behind: no
// directory, no process, no record.
func (m *Manager) Create(ctx context.Context, spec Spec) (Server, error) {
	if err := CheckName(spec.Name); err != nil {
		return Server{}, err
	}
	if spec.Limits == (Limits{}) {
		spec.Limits = DefaultLimits
	}
	if spec.Seed != "" && spec.Type != Redis {
		return Server{}, fmt.Errorf("a %s server starts empty: load a dump into it once it runs", spec.Type)
	}
	if spec.Listen != "" {
		if err := CheckListen(spec.Listen); err != nil {
			return Server{}, err
		}
	}
	spec.superPassword = randomPassword()
	k, version, err := m.kind(spec.Type, spec.Version)
	if err != nil {
		return Server{}, err
	}
	dir := filepath.Join(m.dir, spec.Name)
	m.mu.Lock()
	if _, ok := m.servers[spec.Name]; ok {
		m.mu.Unlock()
		return Server{}, fmt.Errorf("an add-on server called %s already runs here", spec.Name)
	}
	// Reserve the name while the server is made.
	s := &server{Server: Server{Name: spec.Name, Type: spec.Type, Version: version, Dir: dir, User: spec.User,
		Listen: spec.Listen, TLS: spec.Listen != "", State: StateStarting}, making: true}
	m.servers[spec.Name] = s
	m.mu.Unlock()
	fail := func(err error) (Server, error) {
		m.mu.Lock()
		delete(m.servers, spec.Name)
		pid, start := s.PID, s.PStart
		m.mu.Unlock()
		stopProcess(pid, start)
		os.RemoveAll(dir)
		return Server{}, m.diskHint(err)
	}
	if _, err := os.Stat(dir); err == nil {
		m.mu.Lock()
		delete(m.servers, spec.Name)
		m.mu.Unlock()
		return Server{}, fmt.Errorf("%s already exists: an add-on of that name was not removed whole; remove the directory if nothing uses it", dir)
	}
	port := spec.Port
	if port == 0 || !portFree(port) {
		if port, err = freePort(); err != nil {
			return fail(err)
		}
	}
	s.Port = port
	if err := m.layOut(s.Server); err != nil {
		return fail(fmt.Errorf("preparing %s: %w", dir, err))
	}
	if err := k.init(ctx, s.Server, spec); err != nil {
		return fail(err)
	}
	// After init: initdb wants an empty data dir.
	if s.TLS {
		if err := makeCerts(s.Server); err != nil {
			return fail(fmt.Errorf("making the certificates of %s: %w", spec.Name, err))
		}
	}
	m.mu.Lock()
	err = m.startLocked(s)
	m.mu.Unlock()
	if err != nil {
		return fail(fmt.Errorf("starting the %s server: %w", spec.Type, err))
	}
	if err := m.waitReady(ctx, s, k); err != nil {
		return fail(err)
	}
	if err := k.bootstrap(ctx, s.Server, spec); err != nil {
		return fail(err)
	}
	m.mu.Lock()
	s.Database = dbName(spec.Name)
	s.State, s.upSince, s.making = StateUp, time.Now(), false
	s.backoff = minBackoff
	err = m.saveLocked()
	out := s.Server
	m.mu.Unlock()
	if err != nil {
		return fail(err)
	}
	return out, nil
}

// Destroy stops the server and removes its directory: its data is gone.
func (m *Manager) Destroy(ctx context.Context, name string) error {
	m.mu.Lock()
	s, ok := m.servers[name]
	if !ok {
		m.mu.Unlock()
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	s.stopping = true
	pid, start := s.PID, s.PStart
	m.mu.Unlock()
	stopProcess(pid, start)
	if left := sandbox.KillUser(s.User); left > 0 {
		m.logf("destroying %s: %d processes of uid %d could not be killed", name, left, s.User.UID)
	}
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("removing %s: %w", s.Dir, err)
	}
	m.mu.Lock()
	delete(m.servers, name)
	err := m.saveLocked()
	m.mu.Unlock()
	return err
}

// diskHint adds what to do to an error that a full disk caused (initdb
// or the server quotes it; a write of ours returns ENOSPC).
func (m *Manager) diskHint(err error) error {
	if errors.Is(err, syscall.ENOSPC) || strings.Contains(err.Error(), "No space left on device") {
		return fmt.Errorf("%w; free space on the disk of %s (df -h %s), then try again", err, m.dir, m.dir)
	}
	return err
}

// layOut creates the server's directories with their owners and modes.
func (m *Manager) layOut(s Server) error {
	if err := os.Chmod(m.dir, 0o711); err != nil {
		return err
	}
	if err := os.Mkdir(s.Dir, 0o711); err != nil {
		return err
	}
	for _, d := range []string{s.dataDir(), s.runDir()} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := s.User.Chown(d); err != nil {
			return err
		}
	}
	return nil
}

// kind returns the implementation of typ and the version to run.
func (m *Manager) kind(typ, version string) (kind, string, error) {
	switch typ {
	case Postgres:
		v, err := m.bins.postgresVersion(version)
		return postgresKind{bins: m.bins}, v, err
	case Redis:
		v, err := m.bins.redisVersion(version)
		return redisKind{bins: m.bins}, v, err
	}
	return nil, "", fmt.Errorf("unknown add-on type %q: use one of %v", typ, Types)
}

// kind is what differs between PostgreSQL and Redis.
type kind interface {
	// init writes the server's files (the cluster, the config) as its user.
	init(ctx context.Context, s Server, spec Spec) error
	// command is the program and arguments that run the server.
	command(s Server) (string, []string)
	// ready reports nil once the server accepts clients.
	ready(ctx context.Context, s Server) error
	// bootstrap makes what the clients use (PostgreSQL: a role and a
	// database) once the server first runs.
	bootstrap(ctx context.Context, s Server, spec Spec) error
}

func (m *Manager) event(name, format string, args ...any) {
	if m.onEvent != nil {
		m.onEvent(name, fmt.Sprintf(format, args...))
	}
}
