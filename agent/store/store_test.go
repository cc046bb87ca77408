package store

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// testKey returns a fresh 32-byte key.
func testKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// openAt opens the store at path, closing it when the test ends (unless the
// test closed it already).
func openAt(t *testing.T, path string, key []byte) *Store {
	t.Helper()
	s, err := Open(path, key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newStore opens a new store in a temp dir.
func newStore(t *testing.T) *Store {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "pier.db"), testKey(t))
}

// mustCreateApp creates the named apps.
func mustCreateApp(t *testing.T, s *Store, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := s.CreateApp(api.App{Name: n}); err != nil {
			t.Fatalf("CreateApp(%s): %v", n, err)
		}
	}
}

// rawFile closes s and returns the bytes of its file.
func rawFile(t *testing.T, s *Store) []byte {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestOpenCreatesFileWithPrivateMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "pier.db")
	openAt(t, path, testKey(t))
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("mode = %04o, want 0600", perm)
	}
}

func TestOpenRejectsBadKeySize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	_, err := Open(path, []byte("short"))
	if err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("Open with a 5-byte key: err = %v, want one about 32 bytes", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed Open left a file behind: %v", err)
	}
}

func TestSecondOpenTimesOutWithClearError(t *testing.T) {
	old := lockTimeout
	lockTimeout = 200 * time.Millisecond
	t.Cleanup(func() { lockTimeout = old })

	dir := t.TempDir()
	path := filepath.Join(dir, "pier.db")
	key := testKey(t)
	openAt(t, path, key)

	start := time.Now()
	s2, err := Open(path, key)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a locked file succeeded")
	}
	want := "another pier agent is using " + dir
	if !strings.Contains(err.Error(), want) {
		t.Errorf("err = %q, want it to contain %q", err, want)
	}
	// bbolt retries the lock every 50ms until the timeout has passed.
	if waited := time.Since(start); waited < lockTimeout/2 {
		t.Errorf("gave up after %v, not waiting for the %v timeout", waited, lockTimeout)
	}
}

func TestBackupOpensAndHoldsTheData(t *testing.T) {
	key := testKey(t)
	s := openAt(t, filepath.Join(t.TempDir(), "pier.db"), key)
	mustCreateApp(t, s, "blog")
	if err := s.SetConfig("blog", map[string]string{"DATABASE_URL": "postgres://x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRelease(api.Release{App: "blog", Description: "Deploy 1"}, map[string]string{"A": "1"}); err != nil {
		t.Fatal(err)
	}

	var buf bytes.Buffer
	n, err := s.Backup(&buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if n != int64(buf.Len()) || n == 0 {
		t.Fatalf("Backup reported %d bytes, wrote %d", n, buf.Len())
	}
	// The store stays usable while and after the backup is taken.
	mustCreateApp(t, s, "later")

	bak := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(bak, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	r := openAt(t, bak, key)
	apps, err := r.ListApps()
	if err != nil || len(apps) != 1 || apps[0].Name != "blog" {
		t.Fatalf("restored apps = %v, %v; want just blog", apps, err)
	}
	cfg, err := r.Config("blog")
	if err != nil || cfg["DATABASE_URL"] != "postgres://x" {
		t.Errorf("restored config = %v, %v", cfg, err)
	}
	rel, err := r.GetRelease("blog", 1)
	if err != nil || rel.Description != "Deploy 1" {
		t.Errorf("restored release = %+v, %v", rel, err)
	}
}
