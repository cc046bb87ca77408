package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMigrateFreshThenNoop(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	r, err := Migrate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.From != 0 || r.To != Latest() || len(r.Applied) != len(Migrations) {
		t.Errorf("first run: %+v", r)
	}
	for _, d := range []string{"queue", "queue/done", "queue/failed", "results"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("%s missing after migrate: %v", d, err)
		}
	}
	if v, _ := Version(dir); v != Latest() {
		t.Errorf("version file says %d, want %d", v, Latest())
	}
	r, err = Migrate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Applied) != 0 || !strings.Contains(r.String(), "nothing to do") {
		t.Errorf("second run did something: %s", r)
	}
}

func TestMigrateFromVersion1MovesResults(t *testing.T) {
	dir := t.TempDir()
	if err := mkdirs(dir, "queue", "results"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, VersionFile), []byte("1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "queue", "old.json"), []byte(`{"job":"old.txt"}`), 0o644)
	os.WriteFile(filepath.Join(dir, "queue", "new.txt"), []byte("pending job"), 0o644)
	r, err := Migrate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.From != 1 || r.To != 2 || len(r.Applied) != 1 {
		t.Errorf("report %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "results", "old.json")); err != nil {
		t.Errorf("old result not moved: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "queue", "new.txt")); err != nil {
		t.Errorf("pending job touched: %v", err)
	}
}

func TestMigrateRefusesBadState(t *testing.T) {
	newer := t.TempDir()
	os.WriteFile(filepath.Join(newer, VersionFile), []byte("99\n"), 0o644)
	if _, err := Migrate(newer); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer schema: %v", err)
	}
	garbage := t.TempDir()
	os.WriteFile(filepath.Join(garbage, VersionFile), []byte("two\n"), 0o644)
	if _, err := Migrate(garbage); err == nil || !strings.Contains(err.Error(), "not a version number") {
		t.Errorf("garbage version: %v", err)
	}
	if _, err := os.Stat(filepath.Join(garbage, "queue")); err == nil {
		t.Error("a refused migration still changed the directory")
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Migrate(filepath.Join(file, "data")); err == nil || !strings.Contains(err.Error(), "DATA_DIR") {
		t.Errorf("unusable dir: %v", err)
	}
}
