package store

import (
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// Log drains live in two buckets, made when first needed:
//
//	drains
//	└── <id>                    api.Drain (JSON, without counters)
//	drain_targets
//	└── <id>                    sealed URL of the drain

var (
	bucketDrains       = []byte("drains")
	bucketDrainTargets = []byte("drain_targets")
)

// ErrDrainNotFound is a drain id the app does not have.
var ErrDrainNotFound = errors.New("log drain not found")

func drainTargetAt(id string) []byte {
	return fmt.Appendf(nil, "%s\x00%s", bucketDrainTargets, id)
}

// AddDrain stores a drain of d.App (which must exist) with its sealed URL.
func (s *Store) AddDrain(d api.Drain, target string) error {
	sealed, err := s.seal.seal([]byte(target), drainTargetAt(d.ID))
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := requireApp(tx, d.App); err != nil {
			return err
		}
		drains, err := tx.CreateBucketIfNotExists(bucketDrains)
		if err != nil {
			return err
		}
		targets, err := tx.CreateBucketIfNotExists(bucketDrainTargets)
		if err != nil {
			return err
		}
		if err := putJSON(drains, []byte(d.ID), d); err != nil {
			return err
		}
		return targets.Put([]byte(d.ID), sealed)
	})
}

// Drains returns app's drains; app "" returns every app's.
func (s *Store) Drains(app string) ([]api.Drain, error) {
	out := []api.Drain{}
	err := s.view(func(tx *bolt.Tx) error {
		if app != "" {
			if err := requireApp(tx, app); err != nil {
				return err
			}
		}
		b := tx.Bucket(bucketDrains)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			var d api.Drain
			if _, err := getJSON(b, k, &d); err != nil {
				return err
			}
			if app == "" || d.App == app {
				out = append(out, d)
			}
			return nil
		})
	})
	return out, err
}

// DrainTarget opens the URL of a drain.
func (s *Store) DrainTarget(id string) (string, error) {
	var url string
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDrainTargets)
		if b == nil || b.Get([]byte(id)) == nil {
			return detail(ErrDrainNotFound, "log drain %q not found", id)
		}
		plain, err := s.seal.open(b.Get([]byte(id)), drainTargetAt(id))
		url = string(plain)
		return err
	})
	return url, err
}

// RemoveDrain removes a drain of app.
func (s *Store) RemoveDrain(app, id string) error {
	return s.update(func(tx *bolt.Tx) error {
		var d api.Drain
		ok, err := getJSON(tx.Bucket(bucketDrains), []byte(id), &d)
		if err != nil {
			return err
		}
		if !ok || d.App != app {
			return detail(ErrDrainNotFound, "log drain %q not found: see `pier drains -a %s`", id, app)
		}
		return deleteDrain(tx, id)
	})
}

func deleteDrain(tx *bolt.Tx, id string) error {
	if err := tx.Bucket(bucketDrains).Delete([]byte(id)); err != nil {
		return err
	}
	return tx.Bucket(bucketDrainTargets).Delete([]byte(id))
}

// deleteDrainsOf removes the drains of an app being deleted.
func deleteDrainsOf(tx *bolt.Tx, app string) error {
	b := tx.Bucket(bucketDrains)
	if b == nil {
		return nil
	}
	return forEachKey(b, func(k []byte) error {
		var d api.Drain
		if _, err := getJSON(b, k, &d); err != nil {
			return err
		}
		if d.App != app {
			return nil
		}
		return deleteDrain(tx, d.ID)
	})
}

// resealDrains seals every drain URL again: part of a key rotation.
func resealDrains(tx *bolt.Tx, reseal func(b *bolt.Bucket, k, where []byte) error) error {
	b := tx.Bucket(bucketDrainTargets)
	if b == nil {
		return nil
	}
	return forEachKey(b, func(id []byte) error { return reseal(b, id, drainTargetAt(string(id))) })
}
