package store

import (
	"errors"
	"path/filepath"
	"testing"
)

// TestSuspendHandsTheFileOver: a suspended store releases the file for
// another process and refuses calls clearly; Resume takes it back.
func TestSuspendHandsTheFileOver(t *testing.T) {
	key := testKey(t)
	path := filepath.Join(t.TempDir(), "pier.db")
	s := openAt(t, path, key)
	mustCreateApp(t, s, "blog")
	if err := s.Suspend(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetApp("blog"); !errors.Is(err, ErrSuspended) {
		t.Fatalf("GetApp while suspended: %v, want ErrSuspended", err)
	}
	other, err := Open(path, key)
	if err != nil {
		t.Fatalf("another Open while suspended: %v", err)
	}
	mustCreateApp(t, other, "shop")
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	apps, err := s.ListApps()
	if err != nil || len(apps) != 2 {
		t.Fatalf("after Resume: %v %v, want blog and shop", apps, err)
	}
}
