package local

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// keyFile holds the key that seals the state when Options.Key is not given.
const keyFile = "state.key"

// stateAAD binds a sealed state to its use, so that no other ciphertext
// made with the same key passes for it.
var stateAAD = []byte("pier scheduler/local state.json")

// errWrongKey is returned when the state does not open with the key.
var errWrongKey = errors.New("wrong key")

// sealer encrypts the state at rest with AES-256-GCM and a random nonce.
type sealer struct{ aead cipher.AEAD }

// newSealer derives the state's own AES-256 key from key (32 bytes), so
// the key the agent also uses elsewhere never encrypts two kinds of data.
func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("local scheduler: Options.Key must be 32 bytes for AES-256, got %d", len(key))
	}
	sub, err := hkdf.Key(sha256.New, key, nil, "pier scheduler/local state key", 32)
	if err != nil {
		return nil, fmt.Errorf("local scheduler: deriving the state key: %w", err)
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, fmt.Errorf("local scheduler: setting up AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("local scheduler: setting up AES-GCM: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plain: the nonce, then the ciphertext and its tag.
func (s *sealer) seal(plain []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("making a nonce: %w", err)
	}
	return s.aead.Seal(out, out, plain, stateAAD), nil
}

// open decrypts what seal made.
func (s *sealer) open(sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, errors.New("the sealed state is truncated")
	}
	plain, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], stateAAD)
	if err != nil {
		return nil, errWrongKey
	}
	return plain, nil
}

// loadOrCreateKey reads Dir/state.key, or creates it with a new random key
// (mode 0600, written atomically). Call it with Dir locked.
func loadOrCreateKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, keyFile)
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("local scheduler: making a state key: %w", err)
		}
		if err := writeFileAtomic(path, key, 0o600); err != nil {
			return nil, fmt.Errorf("local scheduler: writing %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local scheduler: reading the state key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("local scheduler: %s can be read by other users (mode %v): run chmod 600 on it", path, fi.Mode().Perm())
	}
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("local scheduler: reading the state key: %w", err)
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("local scheduler: %s holds %d bytes, not a 32-byte key: restore the file, or move it and state.json away to start afresh (running processes will then not be re-adopted)", path, len(key))
	}
	return key, nil
}

// Rekey seals the state with key from now on, and saves it at once: the
// agent's secret key was rotated.
func (s *Scheduler) Rekey(key []byte) error {
	sl, err := newSealer(key)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sealer = sl
	return s.saveLocked()
}
