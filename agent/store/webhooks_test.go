package store

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

func TestEventIDsCountPerAppAndThePlatform(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog", "shop")
	for _, app := range []string{"blog", "blog", "shop", "", "blog"} {
		if _, err := s.RecordEvent(api.Event{App: app, Type: api.EventScale}); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(app string, after uint64) (out []uint64) {
		es, err := s.EventsAfter(app, after, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	if got := ids("blog", 0); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("blog's event ids = %v, want [1 2 3]", got)
	}
	if got := ids("blog", 2); len(got) != 1 || got[0] != 3 {
		t.Errorf("blog's events after 2 = %v, want [3]", got)
	}
	if got := ids("", 0); len(got) != 1 || got[0] != 1 {
		t.Errorf("the platform's event ids = %v, want [1]", got)
	}
}

func TestWebhookDeliveriesAreQueuedWithTheEvent(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog", "shop")
	add := func(id, app string, events ...string) {
		t.Helper()
		if err := s.AddWebhook(api.Webhook{ID: id, App: app, Events: events, Format: api.FormatGeneric}, WebhookTarget{URL: "https://example.com/" + id, Secret: "s3cret-" + id}); err != nil {
			t.Fatal(err)
		}
	}
	add("wh1", "blog", "deploy")
	add("wh2", "", "rollback.automatic", "agent")
	add("wh3", "shop")
	if err := s.AddWebhook(api.Webhook{ID: "wh4", App: "nope"}, WebhookTarget{}); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("a webhook of a missing app: %v, want ErrAppNotFound", err)
	}
	for _, e := range []api.Event{
		{App: "blog", Type: api.EventDeployStarted},
		{App: "blog", Type: api.EventScale},
		{App: "blog", Type: api.EventRollbackAutomatic},
		{App: "blog", Type: api.EventDeployFailed},
		{Type: api.EventAgentStarted},
		{App: "shop", Type: api.EventConfigChanged},
	} {
		if _, err := s.RecordEvent(e); err != nil {
			t.Fatal(err)
		}
	}
	types := func(app, id string) (out []string) {
		ds, err := s.Deliveries(app, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			out = append(out, d.Event.Type)
		}
		return out
	}
	if got := types("blog", "wh1"); len(got) != 2 || got[0] != api.EventDeployStarted || got[1] != api.EventDeployFailed {
		t.Errorf("wh1 (blog, deploy) got %v", got)
	}
	if got := types("", "wh2"); len(got) != 2 || got[0] != api.EventRollbackAutomatic || got[1] != api.EventAgentStarted {
		t.Errorf("wh2 (platform, rollback.automatic and agent) got %v", got)
	}
	if got := types("shop", "wh3"); len(got) != 1 {
		t.Errorf("wh3 (shop, all) got %v", got)
	}
	if _, err := s.Deliveries("shop", "wh1", 0); !errors.Is(err, ErrWebhookNotFound) {
		t.Errorf("blog's webhook asked as shop's: %v, want ErrWebhookNotFound", err)
	}

	// Only the oldest pending delivery of each webhook is due: order.
	due, _, err := s.DueDeliveries(time.Now())
	if err != nil || len(due) != 3 {
		t.Fatalf("due = %+v, %v; want one per webhook", due, err)
	}
	for _, d := range due {
		if d.WebhookID == "wh1" && d.Event.Type != api.EventDeployStarted {
			t.Errorf("wh1's first due is %s", d.Event.Type)
		}
	}
	first := due[0]
	first.Status, first.Attempts = api.DeliveryDelivered, 1
	if err := s.SaveDelivery(first); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour)
	for _, d := range due[1:] {
		d.NextAt = later
		if err := s.SaveDelivery(d); err != nil {
			t.Fatal(err)
		}
	}
	due2, next, err := s.DueDeliveries(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if (first.WebhookID == "wh3" && len(due2) != 0) || (first.WebhookID != "wh3" && len(due2) != 1) {
		t.Errorf("due after one delivered and the others put off: %+v", due2)
	}
	if !next.Equal(later) {
		t.Errorf("next = %v, want %v", next, later)
	}

	// A deleted app takes its webhooks along; the platform's stay.
	if err := s.DeleteApp("blog"); err != nil {
		t.Fatal(err)
	}
	if hooks, _ := s.Webhooks(""); len(hooks) != 1 {
		t.Errorf("platform webhooks after deleting blog: %+v", hooks)
	}
	if _, _, err := s.Webhook("blog", "wh1"); !errors.Is(err, ErrWebhookNotFound) {
		t.Errorf("blog's webhook after deleting blog: %v", err)
	}
}

func TestWebhookTargetsAreSealedAndRotated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	oldKey, newKey := testKey(t), testKey(t)
	s := openAt(t, path, oldKey)
	mustCreateApp(t, s, "blog")
	target := WebhookTarget{URL: "https://hooks.example.com/T000/B000/xoxb-hidden", Secret: "whsec-hidden"}
	if err := s.AddWebhook(api.Webhook{ID: "wh1", App: "blog", URL: "https://hooks.example.com/…"}, target); err != nil {
		t.Fatal(err)
	}
	n, err := s.RotateKey(newKey)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 { // the webhook's target, the key check
		t.Errorf("re-sealed %d values, want 2", n)
	}
	if _, got, err := s.Webhook("blog", "wh1"); err != nil || got != target {
		t.Errorf("target after the rotation = %+v, %v", got, err)
	}
	raw := rawFile(t, s)
	if bytes.Contains(raw, []byte("xoxb-hidden")) || bytes.Contains(raw, []byte("whsec-hidden")) {
		t.Error("a webhook's URL or secret is in the file in plain text")
	}
	s2 := openAt(t, path, newKey)
	if _, got, err := s2.Webhook("blog", "wh1"); err != nil || got != target {
		t.Errorf("target after reopening with the new key = %+v, %v", got, err)
	}
}

// Events written before events had types keep their coarse kind as type.
func TestOldEventsReadWithTheirKindAsType(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	err := s.update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte("blog"))
		if err != nil {
			return err
		}
		seq, _ := b.NextSequence()
		return b.Put(u64(seq), []byte(`{"time":"2025-01-02T03:04:05Z","app":"blog","kind":"scale","message":"Scaled to web=2"}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	es, err := s.Events("blog", 0)
	if err != nil || len(es) != 1 || es[0].Type != "scale" || es[0].ID != 1 {
		t.Errorf("old event read as %+v, %v", es, err)
	}
}

// After the key is lost, webhooks and drains cannot be opened: they go.
func TestForgetSealedRemovesWebhooksAndDrains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	s := openAt(t, path, testKey(t))
	mustCreateApp(t, s, "blog")
	if err := s.AddWebhook(api.Webhook{ID: "wh1", App: "blog"}, WebhookTarget{URL: "https://example.com/x", Secret: "s"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddDrain(api.Drain{ID: "d1", App: "blog"}, "syslog://logs.example.com:514"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordEvent(api.Event{App: "blog", Type: api.EventScale}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	newKey := testKey(t)
	if _, err := ForgetSealed(path, newKey, nil); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, path, newKey)
	if hooks, _ := s2.Webhooks("blog"); len(hooks) != 0 {
		t.Errorf("webhooks after the key was lost: %+v", hooks)
	}
	if ds, _ := s2.Drains("blog"); len(ds) != 0 {
		t.Errorf("drains after the key was lost: %+v", ds)
	}
	if due, _, _ := s2.DueDeliveries(time.Now()); len(due) != 0 {
		t.Errorf("deliveries after the key was lost: %+v", due)
	}
}
