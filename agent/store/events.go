package store

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// MaxEvents is how many events the store keeps per app; older ones are
// pruned as new ones arrive.
const MaxEvents = 1000

// AppendEvent records an event of e.App (which must exist), setting its Time
// when zero, and prunes the app's oldest events beyond MaxEvents.
func (s *Store) AppendEvent(e api.Event) error {
	if e.Time.IsZero() {
		e.Time = now()
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := requireApp(tx, e.App); err != nil {
			return err
		}
		b, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(e.App))
		if err != nil {
			return fmt.Errorf("creating events of %s: %w", e.App, err)
		}
		if err := appendBounded(b, e, s.maxEvents); err != nil {
			return fmt.Errorf("recording an event of %s: %w", e.App, err)
		}
		return nil
	})
}

// appendBounded stores v under the bucket's next sequence number and
// deletes the oldest entries beyond keep: a log of bounded size.
func appendBounded(b *bolt.Bucket, v any, keep uint64) error {
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	if err := putJSON(b, u64(seq), v); err != nil {
		return err
	}
	return pruneEvents(b, seq, keep)
}

// pruneEvents deletes events numbered at or below last-keep.
func pruneEvents(b *bolt.Bucket, last, keep uint64) error {
	if last <= keep {
		return nil
	}
	cut := last - keep
	c := b.Cursor()
	for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= cut; k, _ = c.First() {
		if err := c.Delete(); err != nil {
			return fmt.Errorf("pruning events: %w", err)
		}
	}
	return nil
}

// Events returns the last limit events of app, oldest first; limit <= 0
// means all that are kept.
func (s *Store) Events(app string, limit int) ([]api.Event, error) {
	out := []api.Event{}
	err := s.view(func(tx *bolt.Tx) error {
		if err := requireApp(tx, app); err != nil {
			return err
		}
		b := tx.Bucket(bucketEvents).Bucket([]byte(app))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var e api.Event
			if _, err := getJSON(b, k, &e); err != nil {
				return fmt.Errorf("reading event of %s: %w", app, err)
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
