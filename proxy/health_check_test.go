package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckHealth(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			io.WriteString(w, "status: ready")
		case "/broken":
			w.WriteHeader(503)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		case "/missing":
			http.NotFound(w, r) // below 500: the app answers, so it is up
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	dead := closedAddr(t)
	for _, tc := range []struct {
		name, addr string
		hc         HealthCheck
		wantErr    string
	}{
		{"default path", addr, HealthCheck{}, ""},
		{"content", addr, HealthCheck{Path: "/healthz", Content: "ready"}, ""},
		{"404 is up", addr, HealthCheck{Path: "missing"}, ""},
		{"5xx", addr, HealthCheck{Path: "/broken"}, addr + ": GET /broken answered 503"},
		{"content missing", addr, HealthCheck{Path: "/healthz", Content: "green"}, `GET /healthz answered 200 without "green" in its body`},
		{"timeout", addr, HealthCheck{Path: "/slow", Timeout: 50 * time.Millisecond}, "GET /slow did not answer within 50ms"},
		{"nothing listening", dead, HealthCheck{}, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckHealth(context.Background(), tc.addr, tc.hc)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("got %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestDeadInstanceLeavesRotationWithoutFailedRequests(t *testing.T) {
	a, b := newUpstream(t, "web.1"), newUpstream(t, "web.2")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", a, b)})
	for i := 0; i < 4; i++ { // warm both keep-alive pools
		f.do(t, "GET", "app.localhost", "/")
	}

	var failed, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", f.srv.URL+"/", nil)
				req.Host = "app.localhost"
				resp, err := f.srv.Client().Do(req)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	killed := time.Now()
	b.Close()
	eventually(t, time.Second, "web.2 leaves rotation within a second", func() bool { return len(f.Healthy("app")) == 1 })
	t.Logf("web.2 left rotation %s after it died", time.Since(killed).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed while web.2 died", failed.Load(), total.Load())
	}
	if h := f.Healthy("app"); len(h) != 1 || h[0].Name != "web.1" {
		t.Errorf("in rotation: %+v", h)
	}
}

func TestLoneInstanceIsStillCheckedAndComesBack(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u)})
	u.sick.Store(true)
	eventually(t, time.Second, "the sick lone instance leaves rotation", func() bool { return len(f.Healthy("app")) == 0 })
	if resp, body := f.do(t, "GET", "app.localhost", "/"); resp.StatusCode != 503 || !strings.Contains(body, "No instance of app is running") {
		t.Errorf("with no healthy instance: %d %q", resp.StatusCode, body)
	}
	u.sick.Store(false)
	eventually(t, time.Second, "the recovered instance returns to rotation", func() bool { return len(f.Healthy("app")) == 1 })
	if resp, body := f.do(t, "GET", "app.localhost", "/"); resp.StatusCode != 200 || body != "web.1" {
		t.Errorf("after recovery: %d %q", resp.StatusCode, body)
	}
}

func TestDialFailureWithNoOtherInstanceIs502(t *testing.T) {
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: closedAddr(t), Name: "web.1", Slot: "green"}}}})
	resp, body := f.do(t, "GET", "app.localhost", "/")
	if resp.StatusCode != 502 || !strings.Contains(body, "app could not be reached") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if l := f.logOf(t, resp); l.Status != 502 || !strings.Contains(l.Error, "web.1") || l.Upstream != "web.1" {
		t.Errorf("router log %+v", l)
	}
	if got := f.Stats("app")["green"]; got != (Counters{Requests: 1, Errors5xx: 1}) {
		t.Errorf("green stats %+v", got)
	}
}
