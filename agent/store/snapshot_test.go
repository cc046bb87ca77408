package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshot: a snapshot is a whole copy, 0600, that opens with the same
// key; InspectFile reads its schema and tells a file an agent holds.
func TestSnapshot(t *testing.T) {
	key := testKey(t)
	s := openAt(t, filepath.Join(t.TempDir(), "pier.db"), key)
	mustCreateApp(t, s, "shop")
	snap := filepath.Join(t.TempDir(), "snap.db")
	if _, err := s.Snapshot(snap); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(snap)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("snapshot: %v, mode %v", err, fi.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(snap)); len(ents) != 1 {
		t.Errorf("the snapshot left temp files: %v", ents)
	}
	if _, err := InspectFile(s.Path()); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("InspectFile of an open store: %v", err)
	}
	v, err := InspectFile(snap)
	if err != nil || v != SchemaVersion {
		t.Fatalf("InspectFile = %d, %v", v, err)
	}
	c := openAt(t, snap, key)
	if _, err := c.GetApp("shop"); err != nil {
		t.Fatalf("the snapshot lacks the app: %v", err)
	}
}
