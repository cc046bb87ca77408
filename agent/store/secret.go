package store

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// KeyFile is the name of the secret key file in the data dir.
const KeyFile = "secret.key"

// LoadOrCreateKey returns the 32-byte key that seals config vars at rest.
// envValue (base64 of 32 bytes, from PIER_SECRET_KEY) wins; else the key is
// read from <dataDir>/secret.key (base64 text, or 32 raw bytes); else that
// file is created with a new random key, mode 0600, written atomically. A
// key of the wrong size, or a key file other users can read, is an error.
func LoadOrCreateKey(dataDir, envValue string) ([]byte, error) {
	if envValue != "" {
		key, err := decodeKey([]byte(envValue))
		if err != nil {
			return nil, fmt.Errorf("PIER_SECRET_KEY %v", err)
		}
		return key, nil
	}
	path := filepath.Join(dataDir, KeyFile)
	key, err := readKeyFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}

	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir %s: %w", dataDir, err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("making a secret key: %w", err)
	}
	text := base64.StdEncoding.EncodeToString(key) + "\n"
	err = writeFileAtomic(path, 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, text)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("writing secret key: %w", err)
	}
	return key, nil
}

// readKeyFile reads and checks an existing key file; a missing file is an
// error matching fs.ErrNotExist.
func readKeyFile(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s can be read by other users (mode %04o): run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading secret key: %w", err)
	}
	if len(data) == 32 && !isBase64Text(data) {
		return data, nil
	}
	key, err := decodeKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s %v; restore the file from a backup, since config vars cannot be read without it", path, err)
	}
	return key, nil
}

// decodeKey decodes base64 (standard or URL alphabet, padded or not) of
// exactly 32 bytes.
func decodeKey(text []byte) ([]byte, error) {
	s := string(bytes.TrimSpace(text))
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding,
	} {
		key, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(key) != 32 {
			return nil, fmt.Errorf("must be base64 of 32 bytes, but holds %d bytes (make one with: head -c 32 /dev/urandom | base64)", len(key))
		}
		return key, nil
	}
	return nil, errors.New("is not base64 (make one with: head -c 32 /dev/urandom | base64)")
}

// isBase64Text reports whether data could be base64 text rather than raw bytes.
func isBase64Text(data []byte) bool {
	for _, c := range bytes.TrimSpace(data) {
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '+', c == '/', c == '-', c == '_', c == '=':
		default:
			return false
		}
	}
	return true
}

// NextKeyFile holds the key a rotation is moving to (RotateKey) until the
// rotation has finished and it replaces KeyFile.
const NextKeyFile = KeyFile + ".next"

// NewKey makes a random 32-byte key.
func NewKey() ([]byte, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("making a secret key: %w", err)
	}
	return key, nil
}

// WriteNextKey writes key to <dataDir>/secret.key.next (0600, atomically)
// before a rotation begins, so that a crash in the middle leaves both keys
// on disk.
func WriteNextKey(dataDir string, key []byte) error {
	text := base64.StdEncoding.EncodeToString(key) + "\n"
	return writeFileAtomic(filepath.Join(dataDir, NextKeyFile), 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, text)
		return err
	})
}

// ReadNextKey returns the key of a rotation under way; a missing file is
// an error matching fs.ErrNotExist.
func ReadNextKey(dataDir string) ([]byte, error) {
	return readKeyFile(filepath.Join(dataDir, NextKeyFile))
}

// PromoteNextKey makes the rotation's key the data dir's key, in one
// rename: the old key is gone from then on.
func PromoteNextKey(dataDir string) error {
	return os.Rename(filepath.Join(dataDir, NextKeyFile), filepath.Join(dataDir, KeyFile))
}

// DiscardNextKey removes the key of a rotation that never reached the store.
func DiscardNextKey(dataDir string) error {
	err := os.Remove(filepath.Join(dataDir, NextKeyFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}
