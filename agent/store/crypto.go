package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// sealedV1 is the first byte of every sealed value: AES-256-GCM, 12-byte
// random nonce, then ciphertext and tag.
const sealedV1 = 1

// sealer encrypts values at rest with AES-256-GCM. The additional data binds
// a ciphertext to where it is stored, so one app's vars cannot be moved to
// another app's slot.
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key must be 32 bytes for AES-256, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("setting up AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("setting up AES-GCM: %w", err)
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts plain with a fresh random nonce.
func (s *sealer) seal(plain, where []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plain)+s.aead.Overhead())
	out[0] = sealedV1
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, fmt.Errorf("making a nonce: %w", err)
	}
	return s.aead.Seal(out, out[1:1+ns], plain, where), nil // #nosec G407 -- the nonce is random, read just above
}

// open decrypts a value sealed at where.
func (s *sealer) open(sealed, where []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < 1+ns+s.aead.Overhead() || sealed[0] != sealedV1 {
		return nil, errors.New("sealed value is malformed")
	}
	plain, err := s.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], where)
	if err != nil {
		return nil, ErrWrongKey
	}
	return plain, nil
}
