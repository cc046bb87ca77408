package agent

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pierhq/pier/api"
)

func TestAuthGuardSlowsThenRefuses(t *testing.T) {
	var logs []string
	g := newAuthGuard(func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) })
	clock := time.Unix(1_700_000_000, 0)
	g.now = func() time.Time { return clock }
	const ip = "203.0.113.9"
	var delays []time.Duration
	for range guardBlockAt - 1 {
		delays = append(delays, g.fail(ip))
		clock = clock.Add(time.Second)
	}
	for i, d := range delays[:guardFree] {
		if d != 0 {
			t.Errorf("failure %d delayed %v; the first %d are not", i+1, d, guardFree)
		}
	}
	if delays[guardFree] != guardBaseDelay || delays[len(delays)-1] != guardMaxDelay {
		t.Errorf("delays %v: want %v after %d failures, growing to %v", delays, guardBaseDelay, guardFree, guardMaxDelay)
	}
	if g.blocked(ip) != 0 {
		t.Fatal("blocked before the limit")
	}
	g.fail(ip) // the 20th
	if wait := g.blocked(ip); wait != guardBlockFor {
		t.Fatalf("blocked for %v after %d failures, want %v", wait, guardBlockAt, guardBlockFor)
	}
	g.blocked(ip)
	if len(logs) != 1 || !strings.Contains(logs[0], ip) || !strings.Contains(logs[0], "20 failed token checks") {
		t.Errorf("log lines %q: want one naming the address and the count", logs)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(g.collectors()...)
	if got := counter(t, reg, "pier_auth_failures_total"); got != guardBlockAt {
		t.Errorf("pier_auth_failures_total = %v, want %d", got, guardBlockAt)
	}
	if got := counter(t, reg, "pier_auth_refused_total"); got != 2 {
		t.Errorf("pier_auth_refused_total = %v, want 2", got)
	}
	if g.blocked("203.0.113.10") != 0 {
		t.Error("another address is blocked too")
	}
	// An IPv6 client counts as its /64.
	for range guardBlockAt {
		g.fail("2001:db8:1:2::1")
	}
	if g.blocked("2001:db8:1:2::ffff") == 0 {
		t.Error("another address of the same IPv6 /64 is not blocked")
	}
	// The block ends, and with it the count.
	clock = clock.Add(guardBlockFor + time.Second)
	if g.blocked(ip) != 0 || g.fail(ip) != 0 {
		t.Error("still refused or slowed after the block ended")
	}
	// Old failures are forgotten.
	for range guardFree {
		g.fail("203.0.113.11")
	}
	clock = clock.Add(guardWindow + time.Second)
	if d := g.fail("203.0.113.11"); d != 0 {
		t.Errorf("a failure after the window delayed %v", d)
	}
}

func TestAuthGuardIsBounded(t *testing.T) {
	g := newAuthGuard(func(string, ...any) {})
	for i := range guardMaxClients + 500 {
		g.fail(fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255))
	}
	if n := len(g.clients); n > guardMaxClients {
		t.Errorf("the guard tracks %d addresses, more than %d", n, guardMaxClients)
	}
}

// TestAPIRefusesAGuesser: an address that keeps sending wrong tokens gets
// 429 with Retry-After, even with a valid token, while others are served;
// an expired token gets 401 saying when it expired.
func TestAPIRefusesAGuesser(t *testing.T) {
	a := accessAgent(t)
	clock := time.Now()
	a.guard.now = func() time.Time { return clock }
	rt := apiRoute{"GET /v1/apps", needToken, func(_ *Agent, w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(200)
		return nil
	}}
	h := a.guarded(rt)
	good, err := a.store.CreateToken("ci", api.Grant{Role: api.RoleRead}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	call := func(ip, secret string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/v1/apps", nil)
		req.RemoteAddr = ip + ":5555"
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	// Failures spread out in time: no delay is slept in this test.
	for range guardFree {
		if w := call("192.0.2.50", "pier_guess"); w.Code != 401 {
			t.Fatalf("a wrong token: %d", w.Code)
		}
	}
	for range guardBlockAt - guardFree {
		a.guard.fail("192.0.2.50")
	}
	w := call("192.0.2.50", good.Secret)
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") == "" {
		t.Errorf("a blocked address with a valid token: %d, Retry-After %q; want 429 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if w := call("192.0.2.51", good.Secret); w.Code != 200 {
		t.Errorf("another address: %d, want 200", w.Code)
	}

	short, err := a.store.CreateToken("short", api.Grant{Role: api.RoleRead}, time.Now().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(*short.ExpiresAt) + 10*time.Millisecond)
	w = call("192.0.2.52", short.Secret)
	if w.Code != 401 || !strings.Contains(w.Body.String(), "expired at "+short.ExpiresAt.Format(time.RFC3339)) {
		t.Errorf("an expired token: %d %s; want 401 saying when it expired", w.Code, w.Body.String())
	}
}

// counter reads a counter of reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
