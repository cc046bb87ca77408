package agent

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pierhq/pier/proxy"
)

// shopBehindProxy is a proxy counting on reg, routing shop.localhost to
// release of an app that answers /fail with 500; get requests a path.
func shopBehindProxy(t *testing.T, release int) (*prometheus.Registry, func(path string)) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			http.Error(w, "boom", 500)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	reg := prometheus.NewRegistry()
	p := proxy.New(proxy.Config{Domain: "localhost", Registerer: reg})
	t.Cleanup(func() { p.Close() })
	p.SetRoutes([]proxy.Route{{App: "shop", Hosts: []string{"shop.localhost"},
		Upstreams: []proxy.Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1", Slot: "blue", Release: release}}}})
	return reg, func(path string) {
		p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "http://shop.localhost"+path, nil))
	}
}

// TestTrafficPerRelease: pier metrics' figures are the proxy's own
// counters over the window: requests, 5xx and latency per release.
func TestTrafficPerRelease(t *testing.T) {
	reg, get := shopBehindProxy(t, 4)
	get("/") // before the window
	s := &trafficSampler{gather: reg}
	t0 := time.Now()
	s.sample(t0)
	for range 9 {
		get("/")
	}
	get("/fail")
	m := s.appMetrics("shop", t0.Add(10*time.Second))
	if m.Window != 10 || len(m.Releases) != 1 {
		t.Fatalf("%+v", m)
	}
	r := m.Releases[0]
	if r.Release != "v4" || r.Requests != 10 || r.Errors != 1 || r.Total != 11 || r.Rate != 1 {
		t.Errorf("v4: %+v, want 10 requests, 1 error, 11 in all, 1/s", r)
	}
	if r.P50 <= 0 || r.P50 > r.P95 || r.P95 > 10 {
		t.Errorf("v4's latency: p50 %v, p95 %v", r.P50, r.P95)
	}
	if other := s.appMetrics("blog", t0.Add(10*time.Second)); len(other.Releases) != 0 {
		t.Errorf("another app: %+v", other)
	}
}

func TestQuantile(t *testing.T) {
	bounds := []float64{0.01, 0.1, 1, math.Inf(1)}
	for _, c := range []struct {
		q          float64
		cumulative []float64
		want       float64
	}{
		{0.5, []float64{0, 0, 0, 0}, 0},
		{0.5, []float64{10, 10, 10, 10}, 0.005},
		{0.5, []float64{0, 10, 10, 10}, 0.055},
		{0.95, []float64{0, 0, 10, 20}, 1}, // in +Inf: the highest finite bound
	} {
		if got := quantile(c.q, bounds, c.cumulative); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("quantile(%v, %v) = %v, want %v", c.q, c.cumulative, got, c.want)
		}
	}
}
