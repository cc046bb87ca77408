package addons

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"

	"github.com/pierhq/pier/internal/proc"
)

// stateFile is what Dir/state.json holds. It has no secrets: a server
// reads its password from its own data dir.
type stateFile struct {
	Version int      `json:"version"`
	Servers []Server `json:"servers"`
}

const stateVersion = 1

func (m *Manager) statePath() string { return filepath.Join(m.dir, "state.json") }

// adopt loads state.json and takes over its servers: one still running is
// supervised, one that ended is started again now.
func (m *Manager) adopt() error {
	b, err := os.ReadFile(m.statePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", m.statePath(), err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("reading %s: %w", m.statePath(), err)
	}
	if st.Version > stateVersion {
		return fmt.Errorf("%s has version %d, newer than this pier understands (%d): upgrade pier", m.statePath(), st.Version, stateVersion)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range st.Servers {
		s := &server{Server: r, backoff: minBackoff}
		switch {
		case proc.IsOurs(r.PID, r.PStart):
			if s.State == StateUp {
				s.upSince = time.Now()
			}
		default:
			s.State, s.nextStart = StateCrashed, time.Now()
			m.event(s.Name, "the %s server ended while no agent watched it; starting it again", s.Type)
		}
		m.servers[r.Name] = s
	}
	return m.saveLocked()
}

// saveLocked writes state.json atomically. m.mu is held.
func (m *Manager) saveLocked() error {
	st := stateFile{Version: stateVersion}
	for _, s := range m.servers {
		if s.making {
			continue // Create saves it once it is whole
		}
		st.Servers = append(st.Servers, s.Server)
	}
	b, err := json.MarshalIndent(&st, "", "  ")
	if err != nil {
		return err
	}
	if err := renameio.WriteFile(m.statePath(), b, 0o600); err != nil {
		return fmt.Errorf("saving the add-on servers' state: %w", err)
	}
	return nil
}

func (m *Manager) saveOrLogLocked() {
	if err := m.saveLocked(); err != nil {
		m.logf("%v", err)
	}
}
