package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// A bootstrap token is one whose secret comes from outside the API: the
// admin token of <data-dir>/admin.token or PIER_ADMIN_TOKEN, which the agent
// hands the store at every start. The store remembers the hash of every
// bootstrap secret it has taken, so that a secret is taken once: when its
// token is revoked, the same secret handed in again is refused, and a
// revoked admin token stays revoked across restarts.

// bootstrapRecord is what the bootstrap bucket keeps of a secret it took.
type bootstrapRecord struct {
	TokenID    string    `json:"token_id"`
	Name       string    `json:"name"`
	ImportedAt time.Time `json:"imported_at"`
}

// ImportBootstrapToken takes a bootstrap secret: the first time, as
// ImportToken does (and a secret already stored as a token is simply
// marked); after that it returns the token while it is valid, and
// ErrTokenRevoked once it has been revoked. It never makes a revoked
// secret valid again.
func (s *Store) ImportBootstrapToken(name, secret string) (api.Token, error) {
	if err := checkImported(secret); err != nil {
		return api.Token{}, err
	}
	var t api.Token
	err := s.update(func(tx *bolt.Tx) error {
		hash := hashSecret(secret)
		if tx.Bucket(bucketBootstrap).Get(hash) != nil && tx.Bucket(bucketTokenHashes).Get(hash) == nil {
			return detail(ErrTokenRevoked, "the %s token was revoked: it is not taken again", name)
		}
		var err error
		if t, err = putToken(tx, name, secret, adminGrant, true); err != nil {
			return err
		}
		return markBootstrap(tx, t)
	})
	if err != nil {
		return api.Token{}, fmt.Errorf("importing token: %w", err)
	}
	return t, nil
}

// CreateBootstrapToken makes a new token, as CreateToken does, for the
// agent to write where its bootstrap secret is read from.
func (s *Store) CreateBootstrapToken(name string) (api.Token, error) {
	secret, err := newSecret()
	if err != nil {
		return api.Token{}, err
	}
	var t api.Token
	err = s.update(func(tx *bolt.Tx) error {
		if t, err = putToken(tx, name, secret, adminGrant, false); err != nil {
			return err
		}
		return markBootstrap(tx, t)
	})
	if err != nil {
		return api.Token{}, fmt.Errorf("creating token: %w", err)
	}
	return t, nil
}

// RotateBootstrapToken makes a new bootstrap token and revokes every
// bootstrap token still valid, in one transaction. persist is called with
// the new secret before the transaction commits (the agent writes it to
// admin.token there); when it fails, nothing changes. It returns the new
// token and the ids of the tokens it revoked.
func (s *Store) RotateBootstrapToken(name string, persist func(secret string) error) (api.Token, []string, error) {
	secret, err := newSecret()
	if err != nil {
		return api.Token{}, nil, err
	}
	var t api.Token
	var revoked []string
	err = s.update(func(tx *bolt.Tx) error {
		revoked = nil
		hashes := tx.Bucket(bucketTokenHashes)
		err := tx.Bucket(bucketBootstrap).ForEach(func(hash, _ []byte) error {
			id := hashes.Get(hash)
			if id == nil {
				return nil
			}
			revoked = append(revoked, string(id))
			return nil
		})
		if err != nil {
			return err
		}
		for _, id := range revoked {
			if err := deleteToken(tx, id); err != nil {
				return err
			}
		}
		if t, err = putToken(tx, name, secret, adminGrant, false); err != nil {
			return err
		}
		if err := markBootstrap(tx, t); err != nil {
			return err
		}
		return persist(secret)
	})
	if err != nil {
		return api.Token{}, nil, fmt.Errorf("rotating the %s token: %w", name, err)
	}
	return t, revoked, nil
}

// markBootstrap records t's secret as a bootstrap secret taken.
func markBootstrap(tx *bolt.Tx, t api.Token) error {
	b := tx.Bucket(bucketBootstrap)
	hash := hashSecret(t.Secret)
	if b.Get(hash) != nil {
		return nil
	}
	return putJSON(b, hash, bootstrapRecord{TokenID: t.ID, Name: t.Name, ImportedAt: now()})
}
