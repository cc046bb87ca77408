package store

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// MaxDeliveries is how many deliveries (pending and done) the outbox keeps
// per webhook: a receiver gone for long loses its oldest ones, and the
// outbox stays bounded.
const MaxDeliveries = 1000

// enqueueDeliveries puts a delivery of e in the outbox of every webhook
// that wants it: the app's own webhooks and the platform-wide ones. It runs
// in the transaction that records e.
func enqueueDeliveries(tx *bolt.Tx, e api.Event) error {
	if e.Type == api.EventWebhookTest {
		return nil
	}
	var hooks []api.Webhook
	if err := eachWebhook(tx, func(w api.Webhook) error {
		if (w.App == "" || w.App == e.App) && api.MatchEvent(w.Events, e.Type) {
			hooks = append(hooks, w)
		}
		return nil
	}); err != nil {
		return err
	}
	if len(hooks) == 0 {
		return nil
	}
	ob, err := tx.CreateBucketIfNotExists(bucketOutbox)
	if err != nil {
		return err
	}
	for _, w := range hooks {
		b, err := ob.CreateBucketIfNotExists([]byte(w.ID))
		if err != nil {
			return err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		d := api.Delivery{
			ID: fmt.Sprintf("%s-%d", w.ID, seq), WebhookID: w.ID, Event: e,
			Status: api.DeliveryPending, CreatedAt: e.Time, NextAt: e.Time,
		}
		if err := putJSON(b, u64(seq), d); err != nil {
			return fmt.Errorf("queueing event %d of %s for webhook %s: %w", e.ID, e.App, w.ID, err)
		}
		if err := pruneEvents(b, seq, MaxDeliveries); err != nil {
			return err
		}
	}
	return nil
}

// OutboxItem is a delivery with its place in its webhook's outbox.
type OutboxItem struct {
	Seq uint64
	api.Delivery
}

// DueDeliveries returns, for each webhook, its oldest pending delivery
// when it is due at now; a webhook's later deliveries wait for it, so each
// webhook gets its events in order. next is the earliest time a delivery
// not yet due will be (zero: none waits).
func (s *Store) DueDeliveries(now time.Time) (due []OutboxItem, next time.Time, err error) {
	err = s.view(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		if ob == nil {
			return nil
		}
		return ob.ForEachBucket(func(id []byte) error {
			b := ob.Bucket(id)
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				var d api.Delivery
				if _, err := getJSON(b, k, &d); err != nil {
					return err
				}
				if d.Status != api.DeliveryPending {
					continue
				}
				if d.NextAt.After(now) {
					if next.IsZero() || d.NextAt.Before(next) {
						next = d.NextAt
					}
				} else {
					due = append(due, OutboxItem{Seq: binary.BigEndian.Uint64(k), Delivery: d})
				}
				return nil
			}
			return nil
		})
	})
	return due, next, err
}

// SaveDelivery records the outcome of an attempt. A delivery whose webhook
// was removed meanwhile is gone, and stays gone.
func (s *Store) SaveDelivery(it OutboxItem) error {
	return s.update(func(tx *bolt.Tx) error {
		ob := tx.Bucket(bucketOutbox)
		if ob == nil {
			return nil
		}
		b := ob.Bucket([]byte(it.WebhookID))
		if b == nil || b.Get(u64(it.Seq)) == nil {
			return nil
		}
		return putJSON(b, u64(it.Seq), it.Delivery)
	})
}

// Deliveries returns the last limit deliveries (limit <= 0: all kept) of a
// webhook of app ("": a platform-wide one), oldest first.
func (s *Store) Deliveries(app, id string, limit int) ([]api.Delivery, error) {
	out := []api.Delivery{}
	err := s.view(func(tx *bolt.Tx) error {
		if _, err := webhookOf(tx, app, id); err != nil {
			return err
		}
		ob := tx.Bucket(bucketOutbox)
		if ob == nil || ob.Bucket([]byte(id)) == nil {
			return nil
		}
		b := ob.Bucket([]byte(id))
		c := b.Cursor()
		for k, _ := c.Last(); k != nil && (limit <= 0 || len(out) < limit); k, _ = c.Prev() {
			var d api.Delivery
			if _, err := getJSON(b, k, &d); err != nil {
				return err
			}
			out = append(out, d)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
