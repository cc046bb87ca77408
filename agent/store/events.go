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

// platformEvents names the nested bucket of the platform's own events (App
// ""): no app name can be "*".
var platformEvents = []byte("*")

// AppendEvent records an event; see RecordEvent.
func (s *Store) AppendEvent(e api.Event) error {
	_, err := s.RecordEvent(e)
	return err
}

// RecordEvent records an event of e.App (which must exist; "" is the
// platform's), setting its ID and, when zero, its Time, and prunes the
// app's oldest events beyond MaxEvents. In the same transaction it puts a
// delivery of the event in the outbox of every webhook that wants it, so
// an event is never recorded without its deliveries. It returns the event
// as stored.
func (s *Store) RecordEvent(e api.Event) (api.Event, error) {
	err := s.update(func(tx *bolt.Tx) error { return s.recordEvent(tx, &e) })
	return e, err
}

// recordEvent is RecordEvent in tx.
func (s *Store) recordEvent(tx *bolt.Tx, e *api.Event) error {
	if e.Time.IsZero() {
		e.Time = now()
	}
	key := platformEvents
	if e.App != "" {
		if err := requireApp(tx, e.App); err != nil {
			return err
		}
		key = []byte(e.App)
	}
	b, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists(key)
	if err != nil {
		return fmt.Errorf("creating events of %s: %w", e.App, err)
	}
	if e.ID, err = b.NextSequence(); err != nil {
		return err
	}
	if err := putJSON(b, u64(e.ID), *e); err != nil {
		return fmt.Errorf("recording an event of %s: %w", e.App, err)
	}
	if err := pruneEvents(b, e.ID, s.maxEvents); err != nil {
		return err
	}
	return enqueueDeliveries(tx, *e)
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
	return s.EventsAfter(app, 0, limit)
}

// storedEvent reads events written before they had a type: their coarse
// kind stands in for it.
type storedEvent struct {
	api.Event
	Kind string `json:"kind,omitempty"`
}

// EventsAfter returns app's events whose ID is greater than after, oldest
// first, at most the last limit of them (limit <= 0: all). App "" is the
// platform's own events.
func (s *Store) EventsAfter(app string, after uint64, limit int) ([]api.Event, error) {
	out := []api.Event{}
	err := s.view(func(tx *bolt.Tx) error {
		key := platformEvents
		if app != "" {
			if err := requireApp(tx, app); err != nil {
				return err
			}
			key = []byte(app)
		}
		b := tx.Bucket(bucketEvents).Bucket(key)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Last(); k != nil && binary.BigEndian.Uint64(k) > after && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var e storedEvent
			if _, err := getJSON(b, k, &e); err != nil {
				return fmt.Errorf("reading event of %s: %w", app, err)
			}
			e.Event.ID = binary.BigEndian.Uint64(k)
			if e.Type == "" {
				e.Type = e.Kind
			}
			out = append(out, e.Event)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
