package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/renameio/v2"

	"github.com/pierhq/pier/sandbox"
	"github.com/pierhq/pier/scheduler"
)

// stateVersion is the schema version of state.json. Version 1 was the
// state in plain JSON; version 2 seals it (sealedState).
const stateVersion = 2

// sealedState is what Dir/state.json holds: the version and the stateFile,
// as JSON sealed with AES-256-GCM, since it holds config vars. The file is
// mode 0600 too.
type sealedState struct {
	Version int    `json:"version"`
	Sealed  []byte `json:"sealed"`
}

// stateFile is the state: the slots the scheduler was told to run and the
// processes it started for them, so that a new scheduler on the same Dir
// re-adopts them.
type stateFile struct {
	Version   int          `json:"version"`
	NextGen   uint64       `json:"next_gen"`
	Slots     []*slotState `json:"slots"`
	Instances []instRecord `json:"instances"`
	OneOffs   []oneOff     `json:"one_offs,omitempty"`
}

// oneOff is a one-off process being run (pier run, a release command),
// recorded so that the scheduler that takes over after a crash can end it:
// nobody waits for its result any more.
type oneOff struct {
	App        string `json:"app"`
	Dyno       string `json:"dyno"`
	PID        int    `json:"pid"`
	PStart     uint64 `json:"pstart"`
	Dir        string `json:"dir"`   // where it runs: a slug unpacked for it is removed with it
	Owner      int    `json:"owner"` // the process of the scheduler that runs it
	OwnerStart uint64 `json:"owner_start"`
}

// slotState is one release deployed in one slot of an app.
type slotState struct {
	App       string              `json:"app"`
	Slot      string              `json:"slot"`
	Release   int                 `json:"release"`
	Dir       string              `json:"dir"` // the unpacked slug
	Processes map[string]string   `json:"processes"`
	Env       map[string]string   `json:"env"`
	Formation scheduler.Formation `json:"formation"`
	MemoryMB  map[string]int      `json:"memory_mb,omitempty"` // limits per process type
	User      sandbox.Identity    `json:"user,omitzero"`       // the app's user; zero: the agent's
}

// instRecord is the persisted part of an instance.
type instRecord struct {
	ID        string    `json:"id"`
	App       string    `json:"app"`
	Slot      string    `json:"slot"`
	Release   int       `json:"release"`
	Type      string    `json:"type"`
	Index     int       `json:"index"`
	Port      int       `json:"port"`
	PID       int       `json:"pid"`
	PStart    uint64    `json:"pid_start"` // start time in /proc/PID/stat
	State     string    `json:"state"`
	Restarts  int       `json:"restarts"`
	StartedAt time.Time `json:"started_at"`
	Command   string    `json:"command"`
	RawLog    string    `json:"raw_log"`
	LogOffset int64     `json:"log_offset"`
}

// inst is an instance the scheduler supervises. Fields of instRecord are
// guarded by Scheduler.mu; the tail by its own lock.
type inst struct {
	instRecord
	tail *tailState

	memory   int64   // bytes, last measured (instances with a limit)
	cpu      float64 // seconds of CPU its processes used, last measured
	oomKills int     // R15s since the scheduler started

	backoff   time.Duration // wait before the next restart after a crash
	nextStart time.Time     // when a crashed instance is started again
	upSince   time.Time
}

// tailState is where the log tailer is in an instance's raw output file.
type tailState struct {
	mu     sync.Mutex
	offset atomic.Int64
	done   bool // drained for the last time; the raw file is gone
}

func (s *Scheduler) statePath() string { return filepath.Join(s.dir, "state.json") }

// loadState reads Dir/state.json; a missing file is an empty state. A state
// of version 1 (plain JSON) is read as well; the next save seals it.
func (s *Scheduler) loadState() (*stateFile, error) {
	b, err := os.ReadFile(s.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return &stateFile{Version: stateVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading scheduler state: %w", err)
	}
	startAfresh := "move the file away to start afresh; running processes will then not be re-adopted"
	var outer sealedState
	if err := json.Unmarshal(b, &outer); err != nil {
		return nil, fmt.Errorf("reading scheduler state %s: %w (%s)", s.statePath(), err, startAfresh)
	}
	if outer.Version > stateVersion {
		return nil, fmt.Errorf("scheduler state %s has version %d, newer than this pier understands (%d): upgrade pier", s.statePath(), outer.Version, stateVersion)
	}
	plain := b // version 1: plain JSON
	if outer.Version == stateVersion {
		plain, err = s.sealer.open(outer.Sealed)
		if errors.Is(err, errWrongKey) && s.previous != nil {
			plain, err = s.previous.open(outer.Sealed)
		}
		if errors.Is(err, errWrongKey) {
			return nil, fmt.Errorf("scheduler state %s does not open with this key: it was sealed with another one. Start pier with the secret key it had before (PIER_SECRET_KEY or the data dir's secret.key), or %s", s.statePath(), startAfresh)
		}
		if err != nil {
			return nil, fmt.Errorf("reading scheduler state %s: %w (%s)", s.statePath(), err, startAfresh)
		}
	}
	var st stateFile
	if err := json.Unmarshal(plain, &st); err != nil {
		return nil, fmt.Errorf("reading scheduler state %s: %w (%s)", s.statePath(), err, startAfresh)
	}
	return &st, nil
}

// saveLocked seals the state and writes it atomically. s.mu must be held.
func (s *Scheduler) saveLocked() error {
	st := stateFile{Version: stateVersion, NextGen: s.nextGen}
	for _, sl := range s.slots {
		st.Slots = append(st.Slots, sl)
	}
	for _, in := range s.insts {
		r := in.instRecord
		r.LogOffset = in.tail.offset.Load()
		st.Instances = append(st.Instances, r)
	}
	for _, o := range s.oneOffs {
		st.OneOffs = append(st.OneOffs, o)
	}
	plain, err := json.Marshal(&st)
	if err != nil {
		return fmt.Errorf("encoding scheduler state: %w", err)
	}
	sealed, err := s.sealer.seal(plain)
	if err != nil {
		return fmt.Errorf("sealing scheduler state: %w", err)
	}
	b, err := json.Marshal(&sealedState{Version: stateVersion, Sealed: sealed})
	if err != nil {
		return fmt.Errorf("encoding scheduler state: %w", err)
	}
	if err := writeFileAtomic(s.statePath(), b, 0o600); err != nil {
		return fmt.Errorf("saving scheduler state: %w", err)
	}
	s.savedAt = time.Now()
	return nil
}

// save is saveLocked for callers that only log a failure.
func (s *Scheduler) saveOrLogLocked() {
	if err := s.saveLocked(); err != nil {
		s.logf("%v", err)
	}
}

// writeFileAtomic writes a file that survives a crash whole or not at all
// (a temp file beside it, fsync, rename).
func writeFileAtomic(path string, b []byte, mode os.FileMode) error {
	return renameio.WriteFile(path, b, mode)
}

// lockDir takes an exclusive lock on Dir so that two agents never supervise
// the same processes.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening scheduler lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another pier agent uses %s (stop it first, or give this one another --data-dir): %w", dir, err)
	}
	return f, nil
}
