package store

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// RotateKey re-seals every sealed value (each app's config, each release's
// config snapshot, each webhook's target, each log drain's URL, each
// add-on's password, the key check) under newKey in one transaction, and
// from then on seals and opens with newKey. Until it returns the old key is
// the store's: a failure or a crash leaves every value sealed with the old key.
// It returns how many values it re-sealed.
func (s *Store) RotateKey(newKey []byte) (int, error) {
	next, err := newSealer(newKey)
	if err != nil {
		return 0, err
	}
	s.mu.Lock() // no reader may open a value while the key changes
	defer s.mu.Unlock()
	if s.db == nil {
		return 0, ErrSuspended
	}
	n := 0
	err = s.db.Update(func(tx *bolt.Tx) error {
		reseal := func(b *bolt.Bucket, k, where []byte) error {
			plain, err := s.seal.open(b.Get(k), where)
			if err != nil {
				return fmt.Errorf("opening %q with the current key: %w", where, err)
			}
			sealed, err := next.seal(plain, where)
			if err != nil {
				return err
			}
			n++
			return b.Put(k, sealed)
		}
		if err := forEachSealed(tx, reseal); err != nil {
			return err
		}
		if err := resealWebhooks(tx, reseal); err != nil {
			return err
		}
		if err := resealDrains(tx, reseal); err != nil {
			return err
		}
		as := tx.Bucket(bucketAddonSecrets)
		if err := forEachKey(as, func(name []byte) error { return reseal(as, name, addonSecretAt(string(name))) }); err != nil {
			return err
		}
		return reseal(tx.Bucket(bucketMeta), metaKeyCheck, metaKeyCheck)
	})
	if err != nil {
		return 0, fmt.Errorf("re-encrypting with the new key: %w", err)
	}
	s.seal = next
	return n, nil
}

// forEachSealed calls fn with every sealed config value: each app's
// config and each release's config snapshot, with the bucket, the key and
// where it is bound (the additional data of its seal).
func forEachSealed(tx *bolt.Tx, fn func(b *bolt.Bucket, k, where []byte) error) error {
	cfg := tx.Bucket(bucketConfig)
	if err := forEachKey(cfg, func(app []byte) error { return fn(cfg, app, configAt(string(app))) }); err != nil {
		return err
	}
	rc := tx.Bucket(bucketReleaseConfig)
	return forEachKey(rc, func(app []byte) error {
		b := rc.Bucket(app)
		if b == nil {
			return nil
		}
		return forEachKey(b, func(v []byte) error {
			return fn(b, v, releaseConfigAt(string(app), int(binary.BigEndian.Uint64(v))))
		})
	})
}

// forEachKey calls fn with every key of b, on a copy taken first: fn may
// write to b.
func forEachKey(b *bolt.Bucket, fn func(k []byte) error) error {
	var keys [][]byte
	if err := b.ForEach(func(k, _ []byte) error {
		keys = append(keys, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, k := range keys {
		if err := fn(k); err != nil {
			return err
		}
	}
	return nil
}
