package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestRotateKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	oldKey, newKey := testKey(t), testKey(t)
	s := openAt(t, path, oldKey)
	mustCreateApp(t, s, "shop", "blog")
	if err := s.SetConfig("shop", map[string]string{"DATABASE_URL": "postgres://secret-one"}); err != nil {
		t.Fatal(err)
	}
	rel, err := s.CreateRelease(api.Release{App: "shop", Status: api.StatusLive}, map[string]string{"DATABASE_URL": "postgres://secret-old"})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.RotateKey(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 { // shop's config, its release's snapshot, the key check
		t.Errorf("re-sealed %d values, want 3", n)
	}
	if v, _ := s.Config("shop"); v["DATABASE_URL"] != "postgres://secret-one" {
		t.Errorf("config after the rotation: %v", v)
	}
	if v, _ := s.ReleaseConfig("shop", rel.Version); v["DATABASE_URL"] != "postgres://secret-old" {
		t.Errorf("the release's config after the rotation: %v", v)
	}
	if err := s.SetConfig("blog", map[string]string{"K": "v"}); err != nil {
		t.Fatal(err)
	}
	raw := rawFile(t, s)
	if bytes.Contains(raw, []byte("secret-one")) || bytes.Contains(raw, []byte("secret-old")) {
		t.Error("a config value is in the file in plain text")
	}
	if _, err := Open(path, oldKey); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("the old key still opens the store: %v", err)
	}
	s2 := openAt(t, path, newKey)
	if v, _ := s2.Config("blog"); v["K"] != "v" {
		t.Errorf("blog's config, set after the rotation, reads %v", v)
	}
}

func TestRotateKeyRefusesABadKey(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "shop")
	if err := s.SetConfig("shop", map[string]string{"A": "1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RotateKey([]byte("short")); err == nil {
		t.Fatal("a 5-byte key was taken")
	}
	if v, err := s.Config("shop"); err != nil || v["A"] != "1" {
		t.Fatalf("config after a refused rotation: %v, %v", v, err)
	}
}
