// Package datadir owns the layout of the app's runtime data directory and
// its schema version. Migrate brings a directory to the current version; it
// is idempotent, so the release phase, the worker and a person can all run
// it safely.
//
//	DATA_DIR/
//	  SCHEMA_VERSION   current version, one number
//	  queue/           *.txt jobs for the worker (queue/done, queue/failed after)
//	  results/         one <job>.json per finished job
package datadir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// VersionFile holds the schema version inside the data directory.
const VersionFile = "SCHEMA_VERSION"

// Migration is one step of the layout's history.
type Migration struct {
	Version     int
	Description string
	Apply       func(dir string) error
}

// Migrations are applied in order; each must be safe to re-run after a crash
// half-way through.
var Migrations = []Migration{
	{1, "create the queue and results directories", func(dir string) error {
		return mkdirs(dir, "queue", "results")
	}},
	{2, "add queue/done and queue/failed and move old results out of the queue", func(dir string) error {
		if err := mkdirs(dir, "queue/done", "queue/failed"); err != nil {
			return err
		}
		return moveResults(filepath.Join(dir, "queue"), filepath.Join(dir, "results"))
	}},
}

// Latest is the version Migrate brings a directory to.
func Latest() int { return Migrations[len(Migrations)-1].Version }

// Report says what Migrate did.
type Report struct {
	From, To int
	Applied  []Migration
}

func (r Report) String() string {
	if len(r.Applied) == 0 {
		return fmt.Sprintf("schema is at version %d; nothing to do", r.To)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "schema upgraded from version %d to %d:", r.From, r.To)
	for _, m := range r.Applied {
		fmt.Fprintf(&b, "\n  %d: %s", m.Version, m.Description)
	}
	return b.String()
}

// Migrate brings dir to the latest schema version.
func Migrate(dir string) (Report, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Report{}, fmt.Errorf("creating data directory %s: %w (set DATA_DIR to a writable directory)", dir, err)
	}
	from, err := Version(dir)
	if err != nil {
		return Report{}, err
	}
	if from > Latest() {
		return Report{}, fmt.Errorf("data directory %s is at schema version %d, newer than this release knows (%d): deploy a newer release or restore a backup", dir, from, Latest())
	}
	r := Report{From: from, To: from}
	for _, m := range Migrations {
		if m.Version <= from {
			continue
		}
		if err := m.Apply(dir); err != nil {
			return r, fmt.Errorf("migration %d (%s): %w", m.Version, m.Description, err)
		}
		if err := writeVersion(dir, m.Version); err != nil {
			return r, err
		}
		r.To = m.Version
		r.Applied = append(r.Applied, m)
	}
	return r, nil
}

// Version reads dir's schema version; a directory without one is at 0.
func Version(dir string) (int, error) {
	b, err := os.ReadFile(filepath.Join(dir, VersionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading schema version: %w", err)
	}
	v, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%s holds %q, not a version number: fix or remove the file", filepath.Join(dir, VersionFile), strings.TrimSpace(string(b)))
	}
	return v, nil
}

// writeVersion replaces the version file atomically: temp file, fsync, rename.
func writeVersion(dir string, v int) error {
	if err := WriteFileAtomic(filepath.Join(dir, VersionFile), []byte(strconv.Itoa(v)+"\n")); err != nil {
		return fmt.Errorf("recording schema version %d: %w", v, err)
	}
	return nil
}

// WriteFileAtomic writes data to path so that readers see the old content or
// the new, never a part.
func WriteFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func mkdirs(dir string, names ...string) error {
	for _, n := range names {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			return fmt.Errorf("creating %s: %w", n, err)
		}
	}
	return nil
}

// moveResults moves *.json files that version 1 workers wrote next to their
// jobs into the results directory.
func moveResults(queue, results string) error {
	matches, err := filepath.Glob(filepath.Join(queue, "*.json"))
	if err != nil {
		return err
	}
	for _, m := range matches {
		if err := os.Rename(m, filepath.Join(results, filepath.Base(m))); err != nil {
			return fmt.Errorf("moving %s to results: %w", filepath.Base(m), err)
		}
	}
	return nil
}
