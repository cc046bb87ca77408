package store

import (
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	"golang.org/x/crypto/ssh"

	"github.com/pierhq/pier/api"
)

// AddKey allows an SSH public key (one authorized_keys line) to use git
// over SSH as grant g allows (the apps of g must exist). The name defaults
// to the key's comment. ErrKeyExists if the key is already added.
func (s *Store) AddKey(name, publicKey string, g api.Grant) (api.Key, error) {
	pub, comment, _, rest, err := ssh.ParseAuthorizedKey([]byte(strings.TrimSpace(publicKey)))
	if err != nil {
		return api.Key{}, invalid("invalid SSH public key: give one line like the content of ~/.ssh/id_ed25519.pub (%v)", err)
	}
	if len(strings.TrimSpace(string(rest))) > 0 {
		return api.Key{}, invalid("invalid SSH public key: give one key at a time")
	}
	if name = strings.TrimSpace(name); name == "" {
		name = comment
	}
	if name == "" {
		return api.Key{}, invalid("the SSH key needs a name: pass one, or use a key with a comment")
	}
	if err := CheckName("SSH key", name); err != nil {
		return api.Key{}, detail(ErrInvalid, "%v: pass another with --name", err)
	}
	k := api.Key{
		Fingerprint: ssh.FingerprintSHA256(pub),
		Name:        name,
		PublicKey:   strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub))),
		CreatedAt:   now(),
	}
	err = s.update(func(tx *bolt.Tx) error {
		g, err := checkGrant(tx, g)
		if err != nil {
			return err
		}
		k.Grant = g
		keys := tx.Bucket(bucketKeys)
		var old api.Key
		if ok, err := getJSON(keys, []byte(k.Fingerprint), &old); err != nil {
			return fmt.Errorf("reading key %s: %w", k.Fingerprint, err)
		} else if ok {
			return detail(ErrKeyExists, "SSH key %s is already added as %q", k.Fingerprint, old.Name)
		}
		return putJSON(keys, []byte(k.Fingerprint), k)
	})
	if err != nil {
		return api.Key{}, err
	}
	return k, nil
}

// Keys lists the SSH keys, sorted by name.
func (s *Store) Keys() ([]api.Key, error) {
	out := []api.Key{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKeys).ForEach(func(fp, _ []byte) error {
			var k api.Key
			if _, err := getJSON(tx.Bucket(bucketKeys), fp, &k); err != nil {
				return fmt.Errorf("reading key %s: %w", fp, err)
			}
			out = append(out, k)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b api.Key) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// KeyByFingerprint returns the key with this SHA256 fingerprint
// ("SHA256:..."); ErrKeyNotFound if none.
func (s *Store) KeyByFingerprint(fp string) (api.Key, error) {
	var k api.Key
	err := s.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketKeys), []byte(fp), &k)
		if err != nil {
			return fmt.Errorf("reading key %s: %w", fp, err)
		}
		if !ok {
			return detail(ErrKeyNotFound, "SSH key %s not found", fp)
		}
		return nil
	})
	return k, err
}

// RemoveKey stops a key from pushing; ErrKeyNotFound if it is not added.
func (s *Store) RemoveKey(fingerprint string) error {
	return s.update(func(tx *bolt.Tx) error {
		keys := tx.Bucket(bucketKeys)
		if keys.Get([]byte(fingerprint)) == nil {
			return detail(ErrKeyNotFound, "SSH key %s not found", fingerprint)
		}
		return keys.Delete([]byte(fingerprint))
	})
}
