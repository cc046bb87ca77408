package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// TokenPrefix starts every secret CreateToken makes, so a leaked one is easy
// to recognize.
const TokenPrefix = "pier_"

// minSecretLen is the shortest secret ImportToken accepts.
const minSecretLen = 12

// tokenRecord is a token as stored: the sha256 of its secret, never the secret.
type tokenRecord struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Hash      string     `json:"sha256"`
	Role      string     `json:"role"` // since v3; the migration made older tokens admin
	Apps      []string   `json:"apps,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

func (r tokenRecord) token() api.Token {
	return api.Token{ID: r.ID, Name: r.Name, Grant: api.Grant{Role: r.Role, Apps: r.Apps}, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
}

// adminGrant is the grant of bootstrap tokens.
var adminGrant = api.Grant{Role: api.RoleAdmin}

// CreateToken makes a new API token with grant g, valid until expires (or
// until revoked when expires is zero). Its secret ("pier_" and 43 URL-safe
// characters) is in the returned Token.Secret and nowhere else: only its
// hash is stored. The apps of g must exist.
func (s *Store) CreateToken(name string, g api.Grant, expires time.Time) (api.Token, error) {
	secret, err := newSecret()
	if err != nil {
		return api.Token{}, err
	}
	if err := CheckName("token", strings.TrimSpace(name)); err != nil {
		return api.Token{}, fmt.Errorf("creating token: %w", err)
	}
	if !expires.IsZero() && !expires.After(time.Now()) {
		return api.Token{}, invalid("a token must expire in the future")
	}
	var t api.Token
	err = s.update(func(tx *bolt.Tx) error {
		g, err := checkGrant(tx, g)
		if err != nil {
			return err
		}
		t, err = putToken(tx, name, secret, g, false)
		if err != nil || expires.IsZero() {
			return err
		}
		return setExpiry(tx, &t, expires)
	})
	if err != nil {
		return api.Token{}, fmt.Errorf("creating token: %w", err)
	}
	return t, nil
}

// setExpiry records when t expires.
func setExpiry(tx *bolt.Tx, t *api.Token, expires time.Time) error {
	var rec tokenRecord
	if _, err := getJSON(tx.Bucket(bucketTokens), []byte(t.ID), &rec); err != nil {
		return err
	}
	at := expires.UTC().Truncate(time.Second)
	rec.ExpiresAt = &at
	t.ExpiresAt = &at
	return putJSON(tx.Bucket(bucketTokens), []byte(t.ID), rec)
}

// checkGrant checks a grant's role and apps: a known role, apps that exist,
// and no apps for admin, whose tokens and keys act on the whole agent. It
// returns the grant with its apps sorted and without repeats.
func checkGrant(tx *bolt.Tx, g api.Grant) (api.Grant, error) {
	if !slices.Contains(api.Roles, g.Role) {
		return g, invalid("a role is required: one of %s", strings.Join(api.Roles, ", "))
	}
	if g.Role == api.RoleAdmin && len(g.Apps) > 0 {
		return g, invalid("an admin acts on the whole agent and cannot be limited to apps: use the deploy or read role with apps")
	}
	apps := slices.Clone(g.Apps)
	slices.Sort(apps)
	apps = slices.Compact(apps)
	for _, app := range apps {
		if !appExists(tx, app) {
			return g, detail(ErrInvalid, "app %q not found: name apps that exist (pier apps list)", app)
		}
	}
	g.Apps = apps
	return g, nil
}

// newSecret makes a token secret: "pier_" and 43 URL-safe characters.
func newSecret() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("making a token: %w", err)
	}
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(raw), nil
}

// ImportToken stores a token whose secret was chosen elsewhere (the admin
// token from PIER_ADMIN_TOKEN or its file). Importing the same secret again
// returns the token already stored.
func (s *Store) ImportToken(name, secret string) (api.Token, error) {
	if err := checkImported(secret); err != nil {
		return api.Token{}, err
	}
	t, err := s.addToken(name, secret, true)
	if err != nil {
		return api.Token{}, fmt.Errorf("importing token: %w", err)
	}
	return t, nil
}

// checkImported checks a secret chosen outside pier.
func checkImported(secret string) error {
	if len(secret) < minSecretLen || strings.TrimSpace(secret) != secret {
		return invalid("the token must be at least %d characters without surrounding spaces", minSecretLen)
	}
	return nil
}

// addToken stores the hash of an admin secret under a new id; with reuse,
// a secret already stored returns its token instead.
func (s *Store) addToken(name, secret string, reuse bool) (api.Token, error) {
	var t api.Token
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		t, err = putToken(tx, name, secret, adminGrant, reuse)
		return err
	})
	return t, err
}

// putToken stores the hash of secret with grant g under a new id, inside
// the caller's transaction; with reuse, a secret already stored returns its
// token instead.
func putToken(tx *bolt.Tx, name, secret string, g api.Grant, reuse bool) (api.Token, error) {
	name = strings.TrimSpace(name)
	if err := CheckName("token", name); err != nil {
		return api.Token{}, err
	}
	hash := hashSecret(secret)
	var rec tokenRecord
	hashes, tokens := tx.Bucket(bucketTokenHashes), tx.Bucket(bucketTokens)
	if id := hashes.Get(hash); id != nil {
		if !reuse {
			return api.Token{}, fmt.Errorf("a new token collided with token %s", id)
		}
		if _, err := getJSON(tokens, id, &rec); err != nil {
			return api.Token{}, err
		}
	} else {
		id, err := newTokenID(tokens)
		if err != nil {
			return api.Token{}, err
		}
		rec = tokenRecord{ID: id, Name: name, Hash: hex.EncodeToString(hash), Role: g.Role, Apps: g.Apps, CreatedAt: now()}
		if err := putJSON(tokens, []byte(id), rec); err != nil {
			return api.Token{}, err
		}
		if err := hashes.Put(hash, []byte(id)); err != nil {
			return api.Token{}, err
		}
	}
	t := rec.token()
	t.Secret = secret
	return t, nil
}

// newTokenID picks a short random hex id not in use.
func newTokenID(tokens *bolt.Bucket) (string, error) {
	b := make([]byte, 4)
	for range 10 {
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("making a token id: %w", err)
		}
		if id := hex.EncodeToString(b); tokens.Get([]byte(id)) == nil {
			return id, nil
		}
	}
	return "", fmt.Errorf("could not find a free token id")
}

// VerifyToken returns the token whose secret this is; ErrTokenExpired, with
// its name and when, once it has expired; ErrTokenNotFound otherwise (no
// message repeats the secret).
func (s *Store) VerifyToken(secret string) (api.Token, error) {
	var rec tokenRecord
	err := s.view(func(tx *bolt.Tx) error {
		id := tx.Bucket(bucketTokenHashes).Get(hashSecret(secret))
		if id == nil {
			return ErrTokenNotFound
		}
		ok, err := getJSON(tx.Bucket(bucketTokens), id, &rec)
		if err != nil {
			return fmt.Errorf("reading token %s: %w", id, err)
		}
		if !ok {
			return ErrTokenNotFound
		}
		if rec.ExpiresAt != nil && !now().Before(*rec.ExpiresAt) {
			return detail(ErrTokenExpired, "the API token %q expired at %s: ask an admin for a new one (pier tokens create)", rec.Name, rec.ExpiresAt.Format(time.RFC3339))
		}
		return nil
	})
	if err != nil {
		return api.Token{}, err
	}
	return rec.token(), nil
}

// Tokens lists the API tokens by creation time, without secrets.
func (s *Store) Tokens() ([]api.Token, error) {
	out := []api.Token{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(k, _ []byte) error {
			var rec tokenRecord
			if _, err := getJSON(tx.Bucket(bucketTokens), k, &rec); err != nil {
				return fmt.Errorf("reading token %s: %w", k, err)
			}
			out = append(out, rec.token())
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b api.Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// RevokeToken deletes a token by id; ErrTokenNotFound if there is none.
func (s *Store) RevokeToken(id string) error {
	return s.update(func(tx *bolt.Tx) error { return deleteToken(tx, id) })
}

// deleteToken is RevokeToken inside the caller's transaction.
func deleteToken(tx *bolt.Tx, id string) error {
	var rec tokenRecord
	ok, err := getJSON(tx.Bucket(bucketTokens), []byte(id), &rec)
	if err != nil {
		return fmt.Errorf("reading token %s: %w", id, err)
	}
	if !ok {
		return detail(ErrTokenNotFound, "token %q not found", id)
	}
	hash, err := hex.DecodeString(rec.Hash)
	if err != nil {
		return fmt.Errorf("reading token %s: bad hash: %w", id, err)
	}
	if err := tx.Bucket(bucketTokenHashes).Delete(hash); err != nil {
		return fmt.Errorf("revoking token %s: %w", id, err)
	}
	return tx.Bucket(bucketTokens).Delete([]byte(id))
}

func hashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}
