package store

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

// newPublicKey returns a fresh ed25519 key as an authorized_keys line.
func newPublicKey(t *testing.T, comment string) (line string, pub ssh.PublicKey) {
	t.Helper()
	raw, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err = ssh.NewPublicKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	line = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	if comment != "" {
		line += " " + comment
	}
	return line, pub
}

func TestSSHKeys(t *testing.T) {
	s := newStore(t)
	line, pub := newPublicKey(t, "ana@laptop")

	k, err := s.AddKey("", line+"\n", deployAll)
	if err != nil {
		t.Fatalf("AddKey: %v", err)
	}
	if k.Fingerprint != ssh.FingerprintSHA256(pub) || k.Name != "ana@laptop" || k.CreatedAt.IsZero() {
		t.Errorf("AddKey = %+v, want fingerprint %s named by the comment", k, ssh.FingerprintSHA256(pub))
	}
	if !strings.HasPrefix(k.PublicKey, "ssh-ed25519 ") {
		t.Errorf("PublicKey = %q", k.PublicKey)
	}
	if _, err := s.AddKey("again", line, deployAll); !errors.Is(err, ErrKeyExists) {
		t.Errorf("adding the key twice = %v, want ErrKeyExists", err)
	}
	line2, _ := newPublicKey(t, "")
	if _, err := s.AddKey("bob", line2, deployAll); err != nil {
		t.Fatal(err)
	}

	got, err := s.KeyByFingerprint(k.Fingerprint)
	if err != nil || got.Name != "ana@laptop" {
		t.Errorf("KeyByFingerprint = %+v, %v", got, err)
	}
	keys, err := s.Keys()
	if err != nil || len(keys) != 2 || keys[0].Name != "ana@laptop" || keys[1].Name != "bob" {
		t.Errorf("Keys = %+v, %v", keys, err)
	}

	if err := s.RemoveKey(k.Fingerprint); err != nil {
		t.Fatalf("RemoveKey: %v", err)
	}
	if _, err := s.KeyByFingerprint(k.Fingerprint); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("KeyByFingerprint after remove = %v, want ErrKeyNotFound", err)
	}
	if err := s.RemoveKey(k.Fingerprint); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("second RemoveKey = %v, want ErrKeyNotFound", err)
	}
}

func TestAddKeyRejectsBadKeys(t *testing.T) {
	s := newStore(t)
	line, _ := newPublicKey(t, "")
	other, _ := newPublicKey(t, "x")
	tests := []struct {
		name, key string
	}{
		{"empty", ""},
		{"garbage", "not a key"},
		{"private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"},
		{"truncated", line[:30]},
		{"two keys", line + " a\n" + other},
		{"no name and no comment", line},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.AddKey("", tt.key, deployAll)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("AddKey = %v, want ErrInvalid", err)
			}
			if tt.name != "no name and no comment" && !strings.Contains(err.Error(), "SSH public key") {
				t.Errorf("error %q does not say what was expected", err)
			}
		})
	}
	if keys, _ := s.Keys(); len(keys) != 0 {
		t.Errorf("bad keys were stored: %v", keys)
	}
}
