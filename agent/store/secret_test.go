package store

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKeyCreatesOnceAndReloads(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	key, err := LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatalf("LoadOrCreateKey: %v", err)
	}
	if len(key) != 32 {
		t.Fatalf("key has %d bytes, want 32", len(key))
	}
	path := filepath.Join(dir, KeyFile)
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("%s mode = %04o, want 0600", KeyFile, perm)
	}
	again, err := LoadOrCreateKey(dir, "")
	if err != nil || !bytes.Equal(again, key) {
		t.Errorf("second load = %x, %v; want the same key", again, err)
	}
	// The file holds the key as PIER_SECRET_KEY would, so it can be moved there.
	text, _ := os.ReadFile(path)
	fromEnv, err := LoadOrCreateKey(t.TempDir(), string(text))
	if err != nil || !bytes.Equal(fromEnv, key) {
		t.Errorf("the file's content as PIER_SECRET_KEY = %x, %v", fromEnv, err)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(tmp) != 0 {
		t.Errorf("temp files left behind: %v", tmp)
	}
}

func TestLoadOrCreateKeyEnvWins(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreateKey(dir, ""); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte{7}, 32)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawURLEncoding} {
		got, err := LoadOrCreateKey(dir, enc.EncodeToString(want))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("key from env = %x, %v; want %x", got, err, want)
		}
	}
	// The env key does not create a file.
	empty := t.TempDir()
	if _, err := LoadOrCreateKey(empty, base64.StdEncoding.EncodeToString(want)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(empty, KeyFile)); !os.IsNotExist(err) {
		t.Errorf("an env key wrote %s: %v", KeyFile, err)
	}
}

func TestLoadOrCreateKeyRawFile(t *testing.T) {
	dir := t.TempDir()
	raw := bytes.Repeat([]byte{0xfe}, 32)
	if err := os.WriteFile(filepath.Join(dir, KeyFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrCreateKey(dir, "")
	if err != nil || !bytes.Equal(got, raw) {
		t.Errorf("raw key file = %x, %v", got, err)
	}
}

func TestLoadOrCreateKeyErrors(t *testing.T) {
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name    string
		env     string
		file    string
		mode    os.FileMode
		wantErr string
	}{
		{"env not base64", "not base64!", "", 0, "PIER_SECRET_KEY is not base64"},
		{"env wrong size", short, "", 0, "PIER_SECRET_KEY must be base64 of 32 bytes, but holds 16 bytes"},
		{"file wrong size", "", short, 0o600, "must be base64 of 32 bytes, but holds 16 bytes"},
		{"file garbage", "", "?? not a key ??", 0o600, "is not base64"},
		{"file world-readable", "", base64.StdEncoding.EncodeToString(make([]byte, 32)), 0o644, "can be read by other users (mode 0644): run chmod 600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, KeyFile)
			if tt.file != "" {
				if err := os.WriteFile(path, []byte(tt.file), tt.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			_, err := LoadOrCreateKey(dir, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
			// A bad file is never replaced, and a bad env value creates none.
			data, _ := os.ReadFile(path)
			if string(data) != tt.file {
				t.Errorf("key file now holds %q, want %q", data, tt.file)
			}
		})
	}
}
