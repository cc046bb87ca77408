package agent

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pierhq/pier/api"
)

// An HTTPS drain posts octet-counted RFC 5424 messages in batches, with
// Heroku's logplex headers, trusting the roots it was given.
func TestHTTPSDrainPostsFramedBatches(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	var counts []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("Content-Type") != "application/logplex-1" {
			t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
		}
		bodies = append(bodies, string(b))
		counts = append(counts, r.Header.Get("Logplex-Msg-Count"))
	}))
	defer srv.Close()
	m := &drainManager{
		tls:      &tls.Config{RootCAs: srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs},
		hostname: "vm1",
		guard:    webhookGuard{allowPrivate: true}, // the receiver is on 127.0.0.1
		sent:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "s"}, []string{"app", "drain"}),
		dropped:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"app", "drain"}),
	}
	u, _ := url.Parse(srv.URL + "/logs/token")
	w := &drainWorker{m: m, d: api.Drain{ID: "d_1", App: "shop"}, target: u, buf: make(chan string, 10)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.sendHTTPS(ctx) }()
	w.offer("2026-12-07T12:00:01.000000+00:00 app[web.1]: one")
	w.offer("2026-12-07T12:00:02.000000+00:00 app[router]: at=info path=\"/\"")
	deadline := time.Now().Add(5 * time.Second)
	for w.sent.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	all := strings.Join(bodies, "")
	msg := "<190>1 2026-12-07T12:00:01.000000Z vm1 shop web.1 - - one"
	want := strconv.Itoa(len(msg)) + " " + msg
	if !strings.HasPrefix(all, want) || !strings.Contains(all, " vm1 shop router - - at=info path=\"/\"") {
		t.Errorf("bodies %q, want framed messages starting %q", all, want)
	}
	if w.sent.Load() != 2 || w.dropped.Load() != 0 {
		t.Errorf("sent %d, dropped %d", w.sent.Load(), w.dropped.Load())
	}
	if len(counts) == 0 || (counts[0] != "2" && counts[0] != "1") {
		t.Errorf("Logplex-Msg-Count %v", counts)
	}
}
