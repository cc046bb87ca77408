package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/scheduler"
	"github.com/pierhq/pier/scheduler/schedulertest"
)

// TestStateIsSealed: after a deploy, state.json holds no config var in plain
// text, without a key given (Dir/state.key is made) and with one.
func TestStateIsSealed(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	for name, key := range map[string][]byte{"key file": nil, "given key": []byte(strings.Repeat("k", 32))} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s, err := New(Options{Dir: dir, Key: key, Logf: t.Logf})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			d := adoptDeployment(slug)
			d.App, d.Formation = "sealed", scheduler.Formation{"web": 1}
			t.Cleanup(func() { s.Stop(context.Background(), "sealed", "") })
			if err := s.Deploy(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			web := schedulertest.WaitUp(t, s, "sealed", "blue", d.Formation)["web.1"]
			if got := schedulertest.Env(t, web.Addr)["SECRET_VALUE"]; got != secretValue {
				t.Fatalf("the app has SECRET_VALUE=%q, want %q", got, secretValue)
			}
			readState(t, dir)
			fi, err := os.Stat(filepath.Join(dir, keyFile))
			switch {
			case key == nil && err != nil:
				t.Errorf("no key given and no key file: %v", err)
			case key == nil && fi.Mode().Perm() != 0o600:
				t.Errorf("%s has mode %v, want 0600", keyFile, fi.Mode().Perm())
			case key != nil && err == nil:
				t.Errorf("a key was given, yet %s was written", keyFile)
			}
		})
	}
}

// legacyState is a state.json of version 1, in plain text, as pier wrote it
// before sealing the state: one web instance whose process has ended.
const legacyState = `{
  "version": 1,
  "next_gen": 1,
  "slots": [
    {
      "app": "legacy",
      "slot": "blue",
      "release": 1,
      "dir": %q,
      "processes": {"web": "bin/hello"},
      "env": {"GREETING": "hi", "SECRET_VALUE": "s3cr3t-xyz-123"},
      "formation": {"web": 1}
    }
  ],
  "instances": [
    {
      "id": "legacy/blue/web.1/1",
      "app": "legacy",
      "slot": "blue",
      "release": 1,
      "type": "web",
      "index": 1,
      "port": 0,
      "pid": 0,
      "pid_start": 0,
      "state": "up",
      "restarts": 0,
      "started_at": "2026-01-02T03:04:05Z",
      "command": "bin/hello",
      "raw_log": %q,
      "log_offset": 0
    }
  ]
}
`

// TestLegacyStateIsSealed: a plain state of version 1 loads once, its
// ended instance restarts with its config vars, and the file is sealed.
func TestLegacyStateIsSealed(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	dir := t.TempDir()
	slugDir := filepath.Join(dir, "apps", "legacy", "blue-v1")
	if err := unpackSlug(slug.Path, slug.SHA256, slugDir); err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(dir, "apps", "legacy", "raw", "blue-web.1-1.log")
	text := fmt.Sprintf(legacyState, slugDir, raw) // %q quotes these paths as JSON does
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestScheduler(t, dir, nil)
	t.Cleanup(func() { s.Stop(context.Background(), "legacy", "") })
	readState(t, dir)
	web := schedulertest.WaitUp(t, s, "legacy", "blue", scheduler.Formation{"web": 1})["web.1"]
	env := schedulertest.Env(t, web.Addr)
	if env["SECRET_VALUE"] != secretValue || env["GREETING"] != "hi" {
		t.Errorf("restarted from a plain state with SECRET_VALUE=%q GREETING=%q", env["SECRET_VALUE"], env["GREETING"])
	}
}

// TestBadKeys: a key of the wrong size, or a key file others can read, is
// refused with what to do.
func TestBadKeys(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(Options{Dir: dir, Key: []byte("short")}); err == nil || !strings.Contains(err.Error(), "32 bytes") {
		t.Errorf("a 5-byte key: %v, want it refused", err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), make([]byte, 32), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a key file others can read: %v, want it refused", err)
	}
	if err := os.Chmod(filepath.Join(dir, keyFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyFile), []byte("abc"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Dir: dir}); err == nil || !strings.Contains(err.Error(), "not a 32-byte key") {
		t.Errorf("a 3-byte key file: %v, want it refused", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err == nil {
		t.Errorf("a refused key wrote state.json")
	}
}

// TestRekey: after Rekey the state opens with the new key only; a state
// sealed before a rotation finished opens with PreviousKey, and is sealed
// with the new key from then on.
func TestRekey(t *testing.T) {
	oldKey, newKey := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
	dir := t.TempDir()
	s, err := New(Options{Dir: dir, Key: oldKey, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// A crash after the store took the new key, before the state did.
	s, err = New(Options{Dir: dir, Key: newKey, PreviousKey: oldKey, Logf: t.Logf})
	if err != nil {
		t.Fatalf("the state sealed with the previous key: %v", err)
	}
	s.Close()
	if _, err := New(Options{Dir: dir, Key: oldKey, Logf: t.Logf}); err == nil {
		t.Fatal("the state still opens with the old key after a start with the new one")
	}
	s, err = New(Options{Dir: dir, Key: newKey, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	third := []byte(strings.Repeat("t", 32))
	if err := s.Rekey(third); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := New(Options{Dir: dir, Key: newKey, Logf: t.Logf}); err == nil {
		t.Fatal("the state opens with the key before Rekey")
	}
	s, err = New(Options{Dir: dir, Key: third, Logf: t.Logf})
	if err != nil {
		t.Fatalf("the state after Rekey: %v", err)
	}
	s.Close()
}
