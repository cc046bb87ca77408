package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCreateAndVerifyToken(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	key := testKey(t)
	s := openAt(t, path, key)

	tok, err := s.CreateToken("ci", adminGrant, time.Time{})
	if err != nil {
		t.Fatalf("CreateToken: %v", err)
	}
	if !regexp.MustCompile(`^pier_[A-Za-z0-9_-]{43}$`).MatchString(tok.Secret) {
		t.Errorf("secret %q is not pier_ + base64url of 32 bytes", tok.Secret)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(tok.ID) || tok.Name != "ci" || tok.CreatedAt.IsZero() {
		t.Errorf("token = %+v", tok)
	}
	other, err := s.CreateToken("laptop", adminGrant, time.Time{})
	if err != nil || other.Secret == tok.Secret || other.ID == tok.ID {
		t.Fatalf("second token = %+v, %v; want a different id and secret", other, err)
	}

	got, err := s.VerifyToken(tok.Secret)
	if err != nil || got.ID != tok.ID || got.Secret != "" {
		t.Errorf("VerifyToken = %+v, %v; want id %s and no secret", got, err, tok.ID)
	}
	for _, bad := range []string{"", "pier_", tok.Secret + "x", strings.ToUpper(tok.Secret)} {
		_, err := s.VerifyToken(bad)
		if !errors.Is(err, ErrTokenNotFound) {
			t.Errorf("VerifyToken(%q) = %v, want ErrTokenNotFound", bad, err)
		}
		if bad != "" && err != nil && strings.Contains(err.Error(), bad) {
			t.Errorf("the error repeats the secret: %v", err)
		}
	}

	list, err := s.Tokens()
	if err != nil || len(list) != 2 {
		t.Fatalf("Tokens = %+v, %v", list, err)
	}
	for _, l := range list {
		if l.Secret != "" {
			t.Errorf("Tokens lists a secret for %s", l.ID)
		}
	}

	raw := rawFile(t, s)
	if bytes.Contains(raw, []byte(tok.Secret)) || bytes.Contains(raw, []byte(tok.Secret[5:])) {
		t.Fatal("the database file holds a token secret")
	}
	s = openAt(t, path, key)

	if err := s.RevokeToken(tok.ID); err != nil {
		t.Fatalf("RevokeToken: %v", err)
	}
	if _, err := s.VerifyToken(tok.Secret); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("VerifyToken after revoke = %v, want ErrTokenNotFound", err)
	}
	if err := s.RevokeToken(tok.ID); !errors.Is(err, ErrTokenNotFound) {
		t.Errorf("second RevokeToken = %v, want ErrTokenNotFound", err)
	}
	if _, err := s.VerifyToken(other.Secret); err != nil {
		t.Errorf("revoking one token broke another: %v", err)
	}
	if _, err := s.CreateToken("  ", adminGrant, time.Time{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateToken with a blank name = %v, want ErrInvalid", err)
	}
}

func TestImportTokenIsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	key := testKey(t)
	s := openAt(t, path, key)
	const secret = "admin-token-from-the-environment-0123"

	first, err := s.ImportToken("admin", secret)
	if err != nil {
		t.Fatalf("ImportToken: %v", err)
	}
	s.Close()
	s = openAt(t, path, key)
	second, err := s.ImportToken("admin", secret)
	if err != nil {
		t.Fatalf("second ImportToken: %v", err)
	}
	if first.ID != second.ID || !first.CreatedAt.Equal(second.CreatedAt) {
		t.Errorf("imports differ: %+v vs %+v", first, second)
	}
	if list, _ := s.Tokens(); len(list) != 1 {
		t.Errorf("Tokens after two imports = %+v, want one", list)
	}
	if got, err := s.VerifyToken(secret); err != nil || got.ID != first.ID || got.Name != "admin" {
		t.Errorf("VerifyToken = %+v, %v", got, err)
	}
	if bytes.Contains(rawFile(t, s), []byte(secret)) {
		t.Error("the database file holds the imported secret")
	}

	s = openAt(t, path, key)
	for _, bad := range []string{"", "short", " " + secret} {
		if _, err := s.ImportToken("admin", bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("ImportToken(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if list, _ := s.Tokens(); len(list) != 1 {
		t.Errorf("bad imports added tokens: %+v", list)
	}
}
