// Package local is the Scheduler that runs releases as processes on this
// host. Processes run in their own sessions with their output in files, so
// they survive the agent; a new scheduler on the same Dir re-adopts them.
//
// Every process the scheduler starts (instances and one-offs) leads a new
// session, and stopping it signals that whole session and process group:
// SIGTERM, then SIGKILL after Options.StopTimeout. Children go with their
// parent even when they daemonize by forking. A child that calls setsid
// itself leaves the session and is not stopped: it is no longer pier's.
//
// Dir holds:
//
//	lock                     held while a scheduler runs on Dir
//	state.json               the slots and processes, sealed (AES-256-GCM)
//	state.key                the key, when Options.Key is not given
//	apps/APP/SLOT-vN/        an unpacked slug
//	apps/APP/raw/            the processes' output, moved to app.log
//	apps/APP/app.log{,.1}    the app's log
//
// Stop of a whole app removes apps/APP.
package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/pierhq/pier/internal/proc"
	"github.com/pierhq/pier/scheduler"
)

// States of an instance (the same words as api.State*).
const (
	StateStarting = "starting"
	StateUp       = "up"
	StateCrashed  = "crashed"
)

// Crash restart backoff: 1s, 2s, 4s ... 30s, reset after 60s up. A process
// that cannot be started at all counts as a crash (internal/proc holds it,
// for the add-on servers too).
const (
	minBackoff   = proc.MinBackoff
	maxBackoff   = proc.MaxBackoff
	resetBackoff = proc.ResetBackoff
)

// superviseEvery is how often processes are checked and their output read.
var superviseEvery = 250 * time.Millisecond

// maxInstances caps the count of one process type.
const maxInstances = 100

// Options configure a Scheduler.
type Options struct {
	Dir  string // state, unpacked slugs, logs: <data-dir>/local
	Host string // address apps are reached on, default "127.0.0.1"
	// OnChange is called when an instance of app starts, crashes, restarts,
	// stops or changes address. It runs on a goroutine of its own, never
	// under a lock of the scheduler, and must not wait for Deploy, Scale,
	// Restart or Stop of the same app.
	OnChange    func(app string)
	StopTimeout time.Duration                    // SIGTERM -> SIGKILL grace, default 10s
	Logf        func(format string, args ...any) // the scheduler's own diagnostics (may be nil)
	// Key (32 bytes) seals the state file, which holds config vars. When
	// nil, a key is kept in Dir/state.key. A state sealed with another key
	// makes New fail, and leaves the file as it was.
	Key []byte
	// PreviousKey, when set, opens a state that Key does not: one sealed
	// before a key rotation finished. The state is sealed with Key from then
	// on.
	PreviousKey []byte
}

// Scheduler runs releases as processes of this host.
type Scheduler struct {
	dir, host, node string
	stopTimeout     time.Duration
	onChange        func(string)
	logfn           func(string, ...any)
	lock            *os.File
	sealer          *sealer // guarded by mu once New returns
	previous        *sealer // opens a state from before a key rotation

	mu      sync.Mutex
	slots   map[slotKey]*slotState
	insts   map[string]*inst
	nextGen uint64
	savedAt time.Time
	runSeq  map[string]int // one-offs started per app
	oneOffs map[int]oneOff // running, by PID

	appMu sync.Map // app -> *sync.Mutex, serializes Deploy/Scale/Restart/Stop

	logsMu sync.Mutex
	logs   map[string]*appLog

	followMu  sync.Mutex
	followers map[*io.PipeWriter]bool // followed logs, ended by Close

	noticeMu  sync.Mutex
	notices   []notice
	notify    chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup
}

type slotKey struct{ app, slot string }

var _ scheduler.Scheduler = (*Scheduler)(nil)

// New opens (creates) the scheduler's Dir and re-adopts the processes
// recorded there that still run.
func New(o Options) (*Scheduler, error) {
	if o.Dir == "" {
		return nil, fmt.Errorf("local scheduler: Options.Dir is empty: give it a directory for its state")
	}
	if o.Key != nil && len(o.Key) != 32 {
		return nil, fmt.Errorf("local scheduler: Options.Key must be 32 bytes for AES-256, got %d", len(o.Key))
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("local scheduler: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("local scheduler: creating %s: %w", dir, err)
	}
	s := &Scheduler{
		dir: dir, host: o.Host, stopTimeout: o.StopTimeout,
		onChange: o.OnChange, logfn: o.Logf,
		slots: map[slotKey]*slotState{}, insts: map[string]*inst{},
		runSeq: map[string]int{}, oneOffs: map[int]oneOff{}, logs: map[string]*appLog{},
		followers: map[*io.PipeWriter]bool{},
		notify:    make(chan struct{}, 1), done: make(chan struct{}),
	}
	if s.host == "" {
		s.host = "127.0.0.1"
	}
	if s.stopTimeout <= 0 {
		s.stopTimeout = 10 * time.Second
	}
	s.node, _ = os.Hostname()
	if s.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	key := o.Key
	if key == nil {
		key, err = loadOrCreateKey(dir)
	}
	if err == nil {
		s.sealer, err = newSealer(key)
	}
	if err == nil && o.PreviousKey != nil {
		s.previous, err = newSealer(o.PreviousKey)
	}
	if err == nil {
		err = s.adopt()
	}
	if err != nil {
		s.lock.Close()
		return nil, err
	}
	s.wg.Add(2)
	go s.supervise()
	go s.notifier()
	return s, nil
}

// adopt loads the state file and takes over the processes it lists, then
// saves the state (sealing a state of version 1).
func (s *Scheduler) adopt() error {
	st, err := s.loadState()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextGen = st.NextGen
	for _, sl := range st.Slots {
		s.slots[slotKey{sl.App, sl.Slot}] = sl
	}
	for _, r := range st.Instances {
		in := &inst{instRecord: r, tail: &tailState{}, backoff: minBackoff}
		in.tail.offset.Store(r.LogOffset)
		if in.State == StateUp {
			in.upSince = time.Now()
		}
		if in.State != StateCrashed && !isOurs(in.PID, in.PStart) {
			// It ended while no scheduler watched: restart it now.
			s.tail(in.App, in.Name(), in.RawLog, in.tail, tailFlush)
			s.crashedLocked(in, "Process exited while the scheduler was stopped")
			in.nextStart = time.Now()
		}
		s.insts[in.ID] = in
	}
	for _, o := range st.OneOffs {
		s.adoptOneOffLocked(o)
	}
	return s.saveLocked()
}

// Close stops the scheduler's goroutines and saves its state. Processes
// keep running; the next New on the same Dir re-adopts them.
func (s *Scheduler) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		s.followMu.Lock()
		for pw := range s.followers {
			pw.Close() // unblocks a follower whose reader stalled
		}
		s.followMu.Unlock()
		s.wg.Wait()
		s.mu.Lock()
		err = s.saveLocked()
		s.mu.Unlock()
		s.lock.Close()
	})
	return err
}

// Instances lists the app's instances in every slot, by slot, type, index.
// An app with nothing running has none (and no error).
func (s *Scheduler) Instances(ctx context.Context, app string) ([]scheduler.Instance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []scheduler.Instance
	for _, in := range s.insts {
		if in.App == app {
			out = append(out, s.instanceLocked(in))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Index != b.Index {
			return a.Index < b.Index
		}
		return a.StartedAt.Before(b.StartedAt)
	})
	return out, nil
}

func (s *Scheduler) instanceLocked(in *inst) scheduler.Instance {
	return scheduler.Instance{
		App: in.App, Slot: in.Slot, Release: in.Release,
		Type: in.Type, Index: in.Index,
		Addr: fmt.Sprintf("%s:%d", s.host, in.Port), Node: s.node,
		PID: in.PID, State: in.State, Restarts: in.Restarts, StartedAt: in.StartedAt,
		Memory: in.memory, MemoryLimit: s.memoryLimitLocked(in), OOMKills: in.oomKills, CPU: in.cpu, CPUKnown: true,
	}
}

// memoryLimitLocked is the limit of in's process type in bytes, or 0.
func (s *Scheduler) memoryLimitLocked(in *inst) int64 {
	if sl := s.slots[slotKey{in.App, in.Slot}]; sl != nil {
		return int64(sl.MemoryMB[in.Type]) << 20
	}
	return 0
}

// Name is the dyno name, "web.1".
func (r *instRecord) Name() string { return fmt.Sprintf("%s.%d", r.Type, r.Index) }

func (s *Scheduler) logf(format string, args ...any) {
	if s.logfn != nil {
		s.logfn(format, args...)
	}
}

// appLock serializes the changes to one app.
func (s *Scheduler) appLock(app string) func() {
	m, _ := s.appMu.LoadOrStore(app, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`) })

// checkName refuses names that are empty or unsafe in a path.
func checkName(what, name string) error {
	if !nameRE().MatchString(name) {
		return fmt.Errorf("invalid %s name %q: use letters, digits, '-', '_' and '.', starting with a letter or digit", what, name)
	}
	return nil
}
