package store

import (
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// Webhooks live in three buckets, made when first needed (files of schema
// 3 made before webhooks have none):
//
//	webhooks
//	└── <id>                    api.Webhook (JSON): app ("" platform-wide), filters, format
//	webhook_targets
//	└── <id>                    sealed JSON WebhookTarget: the URL and the signing secret
//	outbox
//	└── <webhook id>/           deliveries in the order their events happened
//	    └── <seq u64be>         api.Delivery (JSON), at most MaxDeliveries per webhook

var (
	bucketWebhooks       = []byte("webhooks")
	bucketWebhookTargets = []byte("webhook_targets")
	bucketOutbox         = []byte("outbox")
)

// ErrWebhookNotFound is a webhook id no app (or the platform) has.
var ErrWebhookNotFound = errors.New("webhook not found")

// WebhookTarget is the sealed part of a webhook: where it goes and how its
// deliveries are signed. Both are secrets.
type WebhookTarget struct {
	URL    string `json:"url"`
	Secret string `json:"secret"`
}

func webhookTargetAt(id string) []byte {
	return fmt.Appendf(nil, "%s\x00%s", bucketWebhookTargets, id)
}

// AddWebhook stores a webhook (w.ID set by the caller) with its sealed
// target. w.App, when set, must exist.
func (s *Store) AddWebhook(w api.Webhook, t WebhookTarget) error {
	plain, err := json.Marshal(t)
	if err != nil {
		return err
	}
	sealed, err := s.seal.seal(plain, webhookTargetAt(w.ID))
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		if w.App != "" {
			if err := requireApp(tx, w.App); err != nil {
				return err
			}
		}
		hooks, err := tx.CreateBucketIfNotExists(bucketWebhooks)
		if err != nil {
			return err
		}
		targets, err := tx.CreateBucketIfNotExists(bucketWebhookTargets)
		if err != nil {
			return err
		}
		if hooks.Get([]byte(w.ID)) != nil {
			return invalid("webhook %s exists", w.ID)
		}
		if err := putJSON(hooks, []byte(w.ID), w); err != nil {
			return err
		}
		return targets.Put([]byte(w.ID), sealed)
	})
}

// Webhooks returns app's webhooks; app "" returns the platform-wide ones.
func (s *Store) Webhooks(app string) ([]api.Webhook, error) {
	out := []api.Webhook{}
	err := s.view(func(tx *bolt.Tx) error {
		if app != "" {
			if err := requireApp(tx, app); err != nil {
				return err
			}
		}
		return eachWebhook(tx, func(w api.Webhook) error {
			if w.App == app {
				out = append(out, w)
			}
			return nil
		})
	})
	return out, err
}

func eachWebhook(tx *bolt.Tx, fn func(api.Webhook) error) error {
	b := tx.Bucket(bucketWebhooks)
	if b == nil {
		return nil
	}
	return b.ForEach(func(k, v []byte) error {
		var w api.Webhook
		if err := json.Unmarshal(v, &w); err != nil {
			return fmt.Errorf("decoding webhook %s: %w", k, err)
		}
		return fn(w)
	})
}

// Webhook returns a webhook of app ("": a platform-wide one) and its
// opened target.
func (s *Store) Webhook(app, id string) (api.Webhook, WebhookTarget, error) {
	var w api.Webhook
	var t WebhookTarget
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		if w, err = webhookOf(tx, app, id); err != nil {
			return err
		}
		plain, err := s.seal.open(tx.Bucket(bucketWebhookTargets).Get([]byte(id)), webhookTargetAt(id))
		if err != nil {
			return fmt.Errorf("opening webhook %s: %w", id, err)
		}
		return json.Unmarshal(plain, &t)
	})
	return w, t, err
}

// RemoveWebhook removes a webhook of app ("": a platform-wide one) with its
// target and its outbox.
func (s *Store) RemoveWebhook(app, id string) error {
	return s.update(func(tx *bolt.Tx) error {
		if _, err := webhookOf(tx, app, id); err != nil {
			return err
		}
		return deleteWebhook(tx, id)
	})
}

// webhookOf reads webhook id of app ("": a platform-wide one); another
// app's is not found, as one that does not exist.
func webhookOf(tx *bolt.Tx, app, id string) (api.Webhook, error) {
	var w api.Webhook
	ok, err := getJSON(tx.Bucket(bucketWebhooks), []byte(id), &w)
	if err != nil {
		return w, err
	}
	if !ok || w.App != app {
		return w, detail(ErrWebhookNotFound, "webhook %q not found: see `pier webhooks list`", id)
	}
	return w, nil
}

func deleteWebhook(tx *bolt.Tx, id string) error {
	key := []byte(id)
	if err := tx.Bucket(bucketWebhooks).Delete(key); err != nil {
		return err
	}
	if err := tx.Bucket(bucketWebhookTargets).Delete(key); err != nil {
		return err
	}
	if ob := tx.Bucket(bucketOutbox); ob != nil && ob.Bucket(key) != nil {
		return ob.DeleteBucket(key)
	}
	return nil
}

// deleteWebhooksOf removes the webhooks of an app being deleted.
func deleteWebhooksOf(tx *bolt.Tx, app string) error {
	var ids []string
	if err := eachWebhook(tx, func(w api.Webhook) error {
		if w.App == app {
			ids = append(ids, w.ID)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if err := deleteWebhook(tx, id); err != nil {
			return fmt.Errorf("deleting webhook %s of %s: %w", id, app, err)
		}
	}
	return nil
}

// resealWebhooks seals every webhook target again with next: part of a key
// rotation's transaction.
func resealWebhooks(tx *bolt.Tx, reseal func(b *bolt.Bucket, k, where []byte) error) error {
	b := tx.Bucket(bucketWebhookTargets)
	if b == nil {
		return nil
	}
	return forEachKey(b, func(id []byte) error { return reseal(b, id, webhookTargetAt(string(id))) })
}

// WebhookByID returns any webhook (an app's or a platform-wide one) and
// its opened target: what the sender needs.
func (s *Store) WebhookByID(id string) (api.Webhook, WebhookTarget, error) {
	var app string
	err := s.view(func(tx *bolt.Tx) error {
		var w api.Webhook
		ok, err := getJSON(tx.Bucket(bucketWebhooks), []byte(id), &w)
		if err != nil {
			return err
		}
		if !ok {
			return detail(ErrWebhookNotFound, "webhook %q not found", id)
		}
		app = w.App
		return nil
	})
	if err != nil {
		return api.Webhook{}, WebhookTarget{}, err
	}
	return s.Webhook(app, id)
}

// forgetTargets removes every webhook (with its outbox) and every log
// drain: their sealed targets cannot be opened after the key was lost. It
// returns how many it removed.
func forgetTargets(tx *bolt.Tx) (int, error) {
	n := 0
	for _, b := range []struct {
		bucket []byte
		del    func(*bolt.Tx, string) error
	}{{bucketWebhooks, deleteWebhook}, {bucketDrains, deleteDrain}} {
		bk := tx.Bucket(b.bucket)
		if bk == nil {
			continue
		}
		if err := forEachKey(bk, func(id []byte) error { n++; return b.del(tx, string(id)) }); err != nil {
			return n, err
		}
	}
	return n, nil
}
