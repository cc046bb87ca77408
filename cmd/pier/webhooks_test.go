package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// receiver is a webhook receiver as docs/notifications.md tells users to
// write one: it verifies every signature and counts the deliveries of each
// event. It can be stopped and started again on the same address.
type receiver struct {
	t      *testing.T
	addr   string
	secret string
	srv    *http.Server

	mu     sync.Mutex
	counts map[string]int      // "<app>/<event id>" -> deliveries
	order  map[string][]uint64 // app -> event ids in the order they came
	bad    []string            // what failed verification
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, addr: freeAddr(t), secret: secret, counts: map[string]int{}, order: map[string][]uint64{}}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *receiver) start() {
	r.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after a stop
		if ln, err = net.Listen("tcp", r.addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatalf("the receiver cannot listen on %s again: %v", r.addr, err)
	}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.handle), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
}

func (r *receiver) stop() {
	if r.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.srv.Shutdown(ctx)
		r.srv = nil
	}
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if why := verifyDelivery(r.secret, req.Header.Get("Pier-Signature"), body, time.Now()); why != "" {
		r.bad = append(r.bad, why)
		http.Error(w, why, http.StatusUnauthorized)
		return
	}
	var p api.WebhookPayload
	if err := json.Unmarshal(body, &p); err == nil && p.Event.Type == api.EventWebhookTest {
		return // pier webhooks test: not an event of the app
	}
	if err := json.Unmarshal(body, &p); err != nil || p.ID != req.Header.Get("Pier-Delivery-Id") || p.Event.ID == 0 {
		r.bad = append(r.bad, fmt.Sprintf("a body that is not the documented payload: %s", body))
		http.Error(w, "bad payload", http.StatusBadRequest)
		return
	}
	r.counts[fmt.Sprintf("%s/%d", p.Event.App, p.Event.ID)]++
	r.order[p.Event.App] = append(r.order[p.Event.App], p.Event.ID)
}

// verifyDelivery checks a Pier-Signature the documented way: HMAC-SHA256
// of "<t>.<raw body>", and t within 5 minutes.
func verifyDelivery(secret, header string, body []byte, now time.Time) string {
	var ts, sig string
	for _, kv := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	var t int64
	if _, err := fmt.Sscan(ts, &t); err != nil || now.Sub(time.Unix(t, 0)).Abs() > 5*time.Minute {
		return "a missing or stale timestamp: " + header
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		return "a signature that does not verify: " + header
	}
	return ""
}

func (r *receiver) snapshot() (map[string]int, []uint64, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	counts := map[string]int{}
	for k, v := range r.counts {
		counts[k] = v
	}
	return counts, append([]uint64(nil), r.order["webhooks"]...), append([]string(nil), r.bad...)
}

// TestWebhookDelivery: a deploy, a deploy that
// crashes and rolls itself back, an instance killed outside any deploy;
// the receiver goes down, events pile up, the agent is killed with
// SIGKILL; both come back and every event arrives exactly once, signed, in
// order.
func TestWebhookDelivery(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=8s", "PIER_WEBHOOK_RETRY=300ms", allowPrivateTargets}})
	const app = "webhooks"
	const secret = "whsec_end-to-end-test-secret"
	a.mustPier("apps", "create", app)
	rcv := newReceiver(t, secret)

	// Bad input: refused with a clear error, nothing stored (private and
	// link-local targets: TestPrivateTargetsRefused).
	for url, want := range map[string]string{
		"ftp://example.com/x":                "http:// or https://",
		"http://" + a.apiAddr + "/v1/tokens": "pier's own API",
	} {
		r := a.pier("webhooks", "add", "-a", app, "--url", url)
		if r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("webhooks add --url %s: exit %d, stderr %q; want a refusal saying %q", url, r.code, r.stderr, want)
		}
	}
	if r := a.pier("webhooks", "add", "-a", app, "--url", "http://"+rcv.addr+"/hook", "--events", "deploy,nonsense"); r.code == 0 || !strings.Contains(r.stderr, "nonsense") {
		t.Errorf("an unknown event filter: exit %d, %q", r.code, r.stderr)
	}
	var hooks []api.Webhook
	if a.pierJSON(&hooks, "webhooks", "list", "-a", app); len(hooks) != 0 {
		t.Fatalf("refused webhooks were stored: %+v", hooks)
	}

	var created api.WebhookCreated
	a.pierJSON(&created, "webhooks", "add", "-a", app, "--url", "http://"+rcv.addr+"/hook", "--secret", secret)
	if strings.Contains(a.mustPier("webhooks", "list", "-a", app), "/hook") {
		t.Error("webhooks list shows the URL's path; it may hold a credential")
	}
	if out := a.mustPier("webhooks", "test", "-a", app, created.ID); !strings.Contains(out, "code 200") {
		t.Errorf("webhooks test: %q", out)
	}
	var evs []api.Event
	a.pierJSON(&evs, "events", "-a", app)
	firstID := evs[len(evs)-1].ID + 1 // the ones before the webhook are not its

	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	repo.rebuild("howdy")
	mustPush(t, repo, "Released v2")
	a.mustPier("config", "set", "-a", app, "CRASH_AFTER=3s", "TOKEN_VALUE=never-in-an-event")
	waitFor(t, 30*time.Second, "v3 to crash and roll back", func() bool {
		return releaseOf(t, a, app, 3).Status == api.StatusFailed
	})
	waitFor(t, 10*time.Second, "v2 to serve again", func() bool {
		code, body, _ := a.get(app, "/")
		return code == 200 && strings.Contains(body, "v2")
	})
	// A crash outside any deploy: the live web process dies.
	var pid int
	for _, in := range psOf(t, a, app) {
		if in.Name == "web.1" && in.Release == 2 && in.State == api.StateUp {
			pid = in.PID
		}
	}
	if pid == 0 {
		t.Fatalf("no running web.1 of v2: %+v", psOf(t, a, app))
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitFor(t, 20*time.Second, "an instance.crashed event", func() bool {
		a.pierJSON(&evs, "events", "-a", app, "-n", "0")
		for _, e := range evs {
			if e.Type == api.EventInstanceCrashed && e.Data["instance"] == "web.1" {
				return true
			}
		}
		return false
	})
	wantTypes := []string{api.EventBuildStarted, api.EventBuildSucceeded, api.EventReleaseCreated, api.EventDeployStarted,
		api.EventDeploySucceeded, api.EventConfigChanged, api.EventRollbackAutomatic, api.EventInstanceCrashed}
	for _, typ := range wantTypes {
		found := false
		for _, e := range evs {
			found = found || e.Type == typ
		}
		if !found {
			t.Errorf("no %s event among %d", typ, len(evs))
		}
	}
	raw := a.mustPier("events", "-a", app, "-n", "0", "--json")
	if strings.Contains(raw, "never-in-an-event") {
		t.Error("a config value is in an event")
	}
	if !strings.Contains(raw, `"keys": "CRASH_AFTER,TOKEN_VALUE"`) {
		t.Errorf("config.changed does not name the keys set:\n%s", raw)
	}

	waitDelivered := func(what string) []api.Event {
		t.Helper()
		var all []api.Event
		waitFor(t, 60*time.Second, what, func() bool {
			a.pierJSON(&all, "events", "-a", app, "-n", "0")
			counts, _, _ := rcv.snapshot()
			for _, e := range all {
				if e.ID >= firstID && counts[fmt.Sprintf("%s/%d", app, e.ID)] == 0 {
					return false
				}
			}
			return true
		})
		return all
	}
	waitDelivered("every event so far to be delivered")

	// The receiver goes down; events pile up in the outbox and fail.
	rcv.stop()
	f := a.follow("events", "-a", app, "-f", "--json", "-n", "1")
	a.mustPier("maintenance", "on", "-a", app)
	waitFor(t, 30*time.Second, "pier events -f to print maintenance.on", func() bool {
		return strings.Contains(f.output(), `"type":"maintenance.on"`)
	})
	f.stop()
	a.mustPier("maintenance", "off", "-a", app)
	a.mustPier("scale", "-a", app, "web=1", "worker=0")
	var ds []api.Delivery
	waitFor(t, 20*time.Second, "a failed attempt recorded", func() bool {
		a.pierJSON(&ds, "webhooks", "deliveries", "-a", app, created.ID, "-n", "0")
		for _, d := range ds {
			if d.Status == api.DeliveryPending && d.Attempts > 0 && d.LastError != "" {
				return true
			}
		}
		return false
	})
	if out := a.mustPier("webhooks", "deliveries", "-a", app, created.ID); !strings.Contains(out, "pending") || !strings.Contains(out, "delivered") {
		t.Errorf("deliveries does not show delivered and pending ones:\n%s", out)
	}
	a.kill()
	rcv.start()
	a.start()

	all := waitDelivered("every event to be delivered after the crash")
	time.Sleep(2 * time.Second) // room for a duplicate to show
	counts, order, bad := rcv.snapshot()
	if len(bad) > 0 {
		t.Errorf("%d deliveries failed verification, first: %s", len(bad), bad[0])
	}
	want := 0
	for _, e := range all {
		if e.ID < firstID {
			continue
		}
		want++
		if n := counts[fmt.Sprintf("%s/%d", app, e.ID)]; n != 1 {
			t.Errorf("event %d (%s) was delivered %d times, want once", e.ID, e.Type, n)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Errorf("event %d came after event %d: out of order (%v)", order[i], order[i-1], order)
			break
		}
	}
	t.Logf("%d events delivered once each, in order, every signature verified", want)
}
