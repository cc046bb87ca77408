package agent

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// verifySignature checks a Pier-Signature as docs/notifications.md tells
// a receiver to.
func verifySignature(secret, header string, body []byte) bool {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := hex.EncodeToString(mac.Sum(nil))
	return ts != "" && hmac.Equal([]byte(sig), []byte(want))
}

func TestWebhookSenderRetriesInOrderAndSigns(t *testing.T) {
	st := newTestStore(t, "blog")
	const secret = "whsec_0123456789abcdef"
	var mu sync.Mutex
	var got []uint64
	calls, bad := 0, 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		calls++
		if !verifySignature(secret, r.Header.Get("Pier-Signature"), body) {
			bad++
		}
		if calls <= 2 { // the receiver fails at first
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		var p api.WebhookPayload
		_ = json.Unmarshal(body, &p)
		if r.Header.Get("Pier-Delivery-Id") != p.ID || p.ID == "" {
			bad++
		}
		got = append(got, p.Event.ID)
	}))
	defer srv.Close()
	if err := st.AddWebhook(api.Webhook{ID: "wh1", App: "blog", Format: api.FormatGeneric}, store.WebhookTarget{URL: srv.URL + "/hook", Secret: secret}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := st.RecordEvent(api.Event{App: "blog", Type: api.EventScale, Message: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	g := webhookGuard{api: netip.MustParseAddrPort("127.0.0.1:1"), allowPrivate: true /* receivers on 127.0.0.1 */}
	s := newWebhookSender(st, g, 50*time.Millisecond, nil, t.Logf)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n == 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 3 {
		t.Fatalf("the receiver got events %v, want 1 2 3 in order", got)
	}
	if bad != 0 {
		t.Errorf("%d deliveries had a bad signature or id", bad)
	}
	ds, _ := st.Deliveries("blog", "wh1", 0)
	if ds[0].Attempts != 3 || ds[0].Status != api.DeliveryDelivered || ds[0].LastCode != 200 {
		t.Errorf("the first delivery: %+v, want delivered on its 3rd attempt", ds[0])
	}
	if strings.Contains(ds[0].LastError, srv.URL) {
		t.Errorf("a delivery's error shows the URL: %q", ds[0].LastError)
	}
	if d, f := testutil.ToFloat64(s.attempts.WithLabelValues("blog", "delivered")), testutil.ToFloat64(s.attempts.WithLabelValues("blog", "failed")); d != 3 || f != 2 {
		t.Errorf("pier_webhook_attempts_total: %v delivered, %v failed; want 3 and the 2 failed attempts before", d, f)
	}
}

// A receiver that hangs costs one attempt's timeout, recorded as a failed
// attempt to retry; a 500 the same.
func TestWebhookReceiverThatHangsOrFailsIsRetried(t *testing.T) {
	st := newTestStore(t, "blog")
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	fail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
	}))
	defer fail.Close()
	for id, u := range map[string]string{"hang": hang.URL, "fail": fail.URL} {
		if err := st.AddWebhook(api.Webhook{ID: id, App: "blog"}, store.WebhookTarget{URL: u, Secret: "whsec_0123456789abcdef"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.RecordEvent(api.Event{App: "blog", Type: api.EventDeployFailed}); err != nil {
		t.Fatal(err)
	}
	s := newWebhookSender(st, webhookGuard{api: netip.MustParseAddrPort("127.0.0.1:1"), allowPrivate: true /* receivers on 127.0.0.1 */}, time.Hour, nil, t.Logf)
	s.timeout = 300 * time.Millisecond
	due, _, err := st.DueDeliveries(time.Now())
	if err != nil || len(due) != 2 {
		t.Fatalf("due %v, %v", due, err)
	}
	start := time.Now()
	for _, it := range due {
		s.attempt(context.Background(), it)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("two attempts took %v", took)
	}
	for id, want := range map[string]string{"hang": "deadline exceeded", "fail": "500"} {
		ds, _ := st.Deliveries("blog", id, 0)
		d := ds[0]
		if d.Status != api.DeliveryPending || d.Attempts != 1 || !strings.Contains(d.LastError, want) || d.NextAt.Before(time.Now().Add(50*time.Minute)) {
			t.Errorf("%s: %+v, want pending after 1 attempt, an error saying %q and a retry in an hour", id, d, want)
		}
		if id == "fail" && d.LastCode != 500 {
			t.Errorf("fail: code %d", d.LastCode)
		}
	}
}

// newTestStore opens a store in a temp dir, with the named apps.
func newTestStore(t *testing.T, apps ...string) *store.Store {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	st, err := store.Open(filepath.Join(t.TempDir(), "pier.db"), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range apps {
		if err := st.CreateApp(api.App{Name: app}); err != nil {
			t.Fatal(err)
		}
	}
	return st
}
