package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

const secretValue = "s3cr3t-value-xyz"

func TestConfigSetAndGet(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	if cfg, err := s.Config("blog"); err != nil || cfg == nil || len(cfg) != 0 {
		t.Errorf("Config of a new app = %#v, %v; want an empty map", cfg, err)
	}
	want := map[string]string{"DATABASE_URL": "postgres://u:p@h/db", "EMPTY": "", "UNICODE": "héllo ✓"}
	if err := s.SetConfig("blog", want); err != nil {
		t.Fatalf("SetConfig: %v", err)
	}
	if got, err := s.Config("blog"); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Config = %v, %v; want %v", got, err, want)
	}
	// SetConfig replaces the whole map.
	if err := s.SetConfig("blog", map[string]string{"ONLY": "1"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Config("blog"); !reflect.DeepEqual(got, map[string]string{"ONLY": "1"}) {
		t.Errorf("after replace, Config = %v", got)
	}
}

func TestSetConfigRejectsBadInputAndChangesNothing(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	before := map[string]string{"KEEP": "me"}
	if err := s.SetConfig("blog", before); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		app  string
		vars map[string]string
		want error
	}{
		{"empty name", "blog", map[string]string{"": "x"}, ErrInvalid},
		{"= in name", "blog", map[string]string{"A=B": "x"}, ErrInvalid},
		{"space around name", "blog", map[string]string{" A": "x"}, ErrInvalid},
		{"NUL in value", "blog", map[string]string{"A": "x\x00y"}, ErrInvalid},
		{"missing app", "nope", map[string]string{"A": "x"}, ErrAppNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.SetConfig(tt.app, tt.vars)
			if !errors.Is(err, tt.want) {
				t.Fatalf("SetConfig err = %v, want %v", err, tt.want)
			}
			if got, _ := s.Config("blog"); !reflect.DeepEqual(got, before) {
				t.Errorf("config changed to %v", got)
			}
		})
	}
	if _, err := s.Config("nope"); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("Config(nope) = %v, want ErrAppNotFound", err)
	}
}

func TestConfigValuesNeverReachTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	key := testKey(t)
	s := openAt(t, path, key)
	mustCreateApp(t, s, "blog")
	if err := s.SetConfig("blog", map[string]string{"API_SECRET": secretValue}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRelease(api.Release{App: "blog"}, map[string]string{"RELEASE_SECRET": secretValue + "-release"}); err != nil {
		t.Fatal(err)
	}
	raw := rawFile(t, s)
	if bytes.Contains(raw, []byte(secretValue)) {
		t.Fatalf("the database file holds the config value %q in clear", secretValue)
	}
	if bytes.Contains(raw, []byte("API_SECRET")) {
		t.Errorf("the database file holds the current config var name in clear")
	}

	// The right key reads the values back after a reopen.
	s = openAt(t, path, key)
	if cfg, err := s.Config("blog"); err != nil || cfg["API_SECRET"] != secretValue {
		t.Errorf("Config after reopen = %v, %v", cfg, err)
	}
	if cfg, err := s.ReleaseConfig("blog", 1); err != nil || cfg["RELEASE_SECRET"] != secretValue+"-release" {
		t.Errorf("ReleaseConfig after reopen = %v, %v", cfg, err)
	}
	s.Close()

	// Another key is refused up front, with a message saying what to do.
	_, err := Open(path, testKey(t))
	if !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with another key = %v, want ErrWrongKey", err)
	}
	if !strings.Contains(err.Error(), "PIER_SECRET_KEY") {
		t.Errorf("wrong-key error %q does not say which key to use", err)
	}
}

func TestSealedConfigIsBoundToItsApp(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog", "shop")
	if err := s.SetConfig("blog", map[string]string{"K": secretValue}); err != nil {
		t.Fatal(err)
	}
	// Two writes of the same vars use different nonces.
	var first, second []byte
	read := func() []byte {
		var b []byte
		s.db.View(func(tx *bolt.Tx) error {
			b = bytes.Clone(tx.Bucket(bucketConfig).Get([]byte("blog")))
			return nil
		})
		return b
	}
	first = read()
	if err := s.SetConfig("blog", map[string]string{"K": secretValue}); err != nil {
		t.Fatal(err)
	}
	second = read()
	if bytes.Equal(first, second) {
		t.Error("two writes of the same config produced the same ciphertext")
	}
	// Moving blog's ciphertext under shop does not decrypt.
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketConfig).Put([]byte("shop"), second)
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.Config("shop"); !errors.Is(err, ErrWrongKey) {
		t.Errorf("Config(shop) with blog's ciphertext = %v, %v; want a decrypt error", cfg, err)
	}
}
