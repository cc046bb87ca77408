package store

import (
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestRevokedBootstrapTokenStaysRevoked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	key := testKey(t)
	s := openAt(t, path, key)
	const secret = "admin-token-from-the-file-0123"

	first, err := s.ImportBootstrapToken("admin", secret)
	if err != nil {
		t.Fatalf("ImportBootstrapToken: %v", err)
	}
	again, err := s.ImportBootstrapToken("admin", secret)
	if err != nil || again.ID != first.ID {
		t.Fatalf("a second import of a valid secret = %+v, %v; want token %s", again, err, first.ID)
	}
	if err := s.RevokeToken(first.ID); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The agent starts again and hands the store the same file.
	s = openAt(t, path, key)
	if _, err := s.ImportBootstrapToken("admin", secret); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("importing a revoked bootstrap secret = %v, want ErrTokenRevoked", err)
	}
	if _, err := s.VerifyToken(secret); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("the revoked secret verifies again: %v", err)
	}
	if list, _ := s.Tokens(); len(list) != 0 {
		t.Errorf("Tokens = %+v, want none", list)
	}
	// A new bootstrap secret is taken.
	if _, err := s.ImportBootstrapToken("admin", "another-admin-token-4567"); err != nil {
		t.Fatalf("a new bootstrap secret: %v", err)
	}
	if _, err := s.VerifyToken("another-admin-token-4567"); err != nil {
		t.Errorf("the new secret does not verify: %v", err)
	}
}

func TestCreatedBootstrapTokenIsTakenOnce(t *testing.T) {
	s := newStore(t)
	tok, err := s.CreateBootstrapToken("admin")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.ImportBootstrapToken("admin", tok.Secret); err != nil || got.ID != tok.ID {
		t.Fatalf("importing the created secret = %+v, %v; want token %s", got, err, tok.ID)
	}
	if err := s.RevokeToken(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportBootstrapToken("admin", tok.Secret); !errors.Is(err, ErrTokenRevoked) {
		t.Fatalf("importing it after revoke = %v, want ErrTokenRevoked", err)
	}
}

func TestRotateBootstrapToken(t *testing.T) {
	s := newStore(t)
	old, err := s.ImportBootstrapToken("admin", "admin-token-from-the-file-0123")
	if err != nil {
		t.Fatal(err)
	}
	ci, err := s.CreateToken("ci", adminGrant, time.Time{})
	if err != nil {
		t.Fatal(err)
	}

	// A failure to persist the new secret changes nothing.
	boom := errors.New("disk full")
	if _, _, err := s.RotateBootstrapToken("admin", func(string) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("RotateBootstrapToken with a failing persist = %v", err)
	}
	if _, err := s.VerifyToken(old.Secret); err != nil {
		t.Fatalf("a failed rotation revoked the old token: %v", err)
	}
	if list, _ := s.Tokens(); len(list) != 2 {
		t.Fatalf("a failed rotation left tokens %+v", list)
	}

	var persisted string
	tok, revoked, err := s.RotateBootstrapToken("admin", func(secret string) error { persisted = secret; return nil })
	if err != nil {
		t.Fatalf("RotateBootstrapToken: %v", err)
	}
	if tok.Secret == "" || tok.Secret != persisted || tok.Name != "admin" {
		t.Errorf("new token %+v, persisted %q", tok, persisted)
	}
	if !slices.Equal(revoked, []string{old.ID}) {
		t.Errorf("revoked %v, want [%s]", revoked, old.ID)
	}
	if _, err := s.VerifyToken(old.Secret); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("the old admin token still verifies: %v", err)
	}
	if _, err := s.VerifyToken(ci.Secret); err != nil {
		t.Errorf("rotation revoked a token made with the API: %v", err)
	}
	if _, err := s.ImportBootstrapToken("admin", old.Secret); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("the old secret is taken again: %v", err)
	}
	if got, err := s.ImportBootstrapToken("admin", tok.Secret); err != nil || got.ID != tok.ID {
		t.Errorf("the new secret at the next start = %+v, %v", got, err)
	}
}
