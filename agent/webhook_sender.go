package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// Retrying: an attempt that fails is tried again after retry, 2×retry,
// 4×retry... at most webhookMaxBackoff apart, until webhookGiveUp after
// the event; then the delivery is marked failed.
const (
	webhookMaxBackoff = time.Hour
	webhookGiveUp     = 24 * time.Hour
)

// webhookSender delivers the outbox: one goroutine, owned by the agent,
// that sends each webhook its deliveries in order, one at a time. It never
// runs inside a deploy: an event only wakes it.
type webhookSender struct {
	store   *store.Store
	guard   webhookGuard
	strict  *http.Client // for webhooks that keep the guard's defaults
	loose   *http.Client // for webhooks added with --allow-private
	retry   time.Duration
	timeout time.Duration // of one attempt, answer included: webhookTimeout
	webURL  func(app string) string
	logf    func(format string, args ...any)
	wake    chan struct{} // 1 slot: a poke never blocks
	// attempts counts attempts by app ("" for platform-wide webhooks) and
	// result: delivered, failed (to be tried again) or gave_up.
	attempts *prometheus.CounterVec
}

func newWebhookSender(st *store.Store, g webhookGuard, retry time.Duration, webURL func(string) string, logf func(string, ...any)) *webhookSender {
	return &webhookSender{
		store: st, guard: g, strict: g.client(false), loose: g.client(true),
		retry: retry, timeout: webhookTimeout, webURL: webURL, logf: logf, wake: make(chan struct{}, 1),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_webhook_attempts_total",
			Help: "Webhook delivery attempts by app (empty for platform-wide webhooks) and result: delivered, failed (to be tried again), gave_up.",
		}, []string{"app", "result"}),
	}
}

func (s *webhookSender) collectors() []prometheus.Collector {
	return []prometheus.Collector{s.attempts}
}

// poke tells the sender there may be something to send.
func (s *webhookSender) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx is done. What is pending when it stops stays in
// the outbox for the next agent.
func (s *webhookSender) run(ctx context.Context) {
	for {
		due, next, err := s.store.DueDeliveries(time.Now())
		if err != nil && ctx.Err() == nil {
			s.logf("reading the webhook outbox: %v", err)
			next = time.Now().Add(5 * time.Second)
		}
		for _, it := range due {
			if ctx.Err() != nil {
				return
			}
			s.attempt(ctx, it)
		}
		if len(due) > 0 {
			continue // each webhook's next delivery may be due now
		}
		if !s.wait(ctx, next) {
			return
		}
	}
}

// wait waits for a poke, or until next (zero: no time set), or until ctx
// is done (then it returns false).
func (s *webhookSender) wait(ctx context.Context, next time.Time) bool {
	var timer <-chan time.Time
	if !next.IsZero() {
		t := time.NewTimer(time.Until(next))
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-s.wake:
	case <-timer:
	}
	return true
}

// attempt sends one delivery and records how it went.
func (s *webhookSender) attempt(ctx context.Context, it store.OutboxItem) {
	w, target, err := s.store.WebhookByID(it.WebhookID)
	if errors.Is(err, store.ErrWebhookNotFound) {
		return // removed meanwhile: its outbox went with it
	}
	now := time.Now().UTC()
	var res api.DeliveryResult
	if err != nil {
		res.Error = err.Error()
	} else {
		res = s.send(ctx, w, target, it.Delivery)
	}
	if ctx.Err() != nil {
		return // the agent stops: not the receiver's fault, try again next time
	}
	it.Attempts++
	it.LastAttemptAt, it.LastCode, it.LastError = now, res.Code, res.Error
	result := "failed"
	switch {
	case res.Error == "":
		it.Status, it.NextAt, result = api.DeliveryDelivered, time.Time{}, "delivered"
	case now.Sub(it.CreatedAt) >= webhookGiveUp:
		it.Status, it.NextAt, result = api.DeliveryFailed, time.Time{}, "gave_up"
		s.logf("webhook %s: gave up on delivery %s after %d attempts: %s", w.ID, it.ID, it.Attempts, res.Error)
	default:
		it.NextAt = now.Add(s.backoff(it.Attempts))
	}
	s.attempts.WithLabelValues(w.App, result).Inc()
	if err := s.store.SaveDelivery(it); err != nil {
		s.logf("recording delivery %s: %v", it.ID, err)
		_ = sleep(ctx, time.Second)
	}
}

// backoff is how long to wait after the n-th failed attempt.
func (s *webhookSender) backoff(n int) time.Duration {
	d := s.retry
	for i := 1; i < n && d < webhookMaxBackoff; i++ {
		d *= 2
	}
	return min(d, webhookMaxBackoff)
}

// send makes one HTTP attempt of d to w. The result's error never holds
// the URL: it is a secret.
func (s *webhookSender) send(ctx context.Context, w api.Webhook, t store.WebhookTarget, d api.Delivery) api.DeliveryResult {
	start := time.Now()
	res := func(code int, err error) api.DeliveryResult {
		r := api.DeliveryResult{Code: code, Duration: api.Duration(time.Since(start))}
		if err != nil {
			r.Error = err.Error()
		}
		return r
	}
	webURL := ""
	if d.Event.App != "" && s.webURL != nil {
		webURL = s.webURL(d.Event.App)
	}
	body, err := renderDelivery(w.Format, d, webURL)
	if err != nil {
		return res(0, fmt.Errorf("rendering the delivery: %w", err))
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return res(0, errors.New("the webhook's URL does not make a request"))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "pier-webhooks")
	req.Header.Set(headerDelivery, d.ID)
	req.Header.Set(headerEventType, d.Event.Type)
	req.Header.Set(headerEventID, fmt.Sprintf("%s/%d", d.Event.App, d.Event.ID))
	req.Header.Set(headerSignature, sign(t.Secret, time.Now(), body))
	client := s.strict
	if w.AllowPrivate {
		client = s.loose
	}
	return res(deliver(client, req, "the receiver"))
}
