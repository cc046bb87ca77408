package proxy

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// scrape reads reg's pier_proxy_ series as "name{label="value",...}" to
// their value: a histogram as its _count, without its sum and buckets.
func scrape(t testing.TB, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "pier_proxy_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			out[seriesName(mf, m)] = metricValue(mf, m)
		}
	}
	return out
}

func seriesName(mf *dto.MetricFamily, m *dto.Metric) string {
	var ls []string
	for _, l := range m.GetLabel() {
		ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
	}
	sort.Strings(ls)
	name := mf.GetName()
	if mf.GetType() == dto.MetricType_HISTOGRAM {
		name += "_count"
	}
	return name + "{" + strings.Join(ls, ",") + "}"
}

func metricValue(mf *dto.MetricFamily, m *dto.Metric) float64 {
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// key is the name of a series as scrape writes it: labels are the
// comma-separated label pairs of an instance, extra more pairs.
func key(name, labels string, extra ...string) string {
	ls := append(strings.Split(labels, ","), extra...)
	sort.Strings(ls)
	return name + "{" + strings.Join(ls, ",") + "}"
}

// instance is the label set of an instance's series, for want maps.
func instance(app, release, slot string) string {
	return fmt.Sprintf(`app=%q,process_type="web",release=%q,slot=%q`, app, release, slot)
}

func TestMetricsLabelAnInstancesRequests(t *testing.T) {
	reg := prometheus.NewRegistry()
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{Registerer: reg})
	r := appRoute("app", u)
	r.Upstreams[0].Release = 3
	f.SetRoutes([]Route{r, {App: "down", Hosts: []string{"down.localhost"}, Maintenance: true}})

	f.do(t, "GET", "app.localhost", "/")
	f.do(t, "GET", "app.localhost", "/fail")
	req, _ := http.NewRequest("POST", f.srv.URL+"/body", strings.NewReader("twelve bytes"))
	req.Host = "app.localhost"
	send(t, f.srv.Client(), req)
	f.do(t, "GET", "nobody.localhost", "/secret-path")
	f.do(t, "GET", "down.localhost", "/")
	eventually(t, 2*time.Second, "five log lines", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.logs) == 5 })

	got := scrape(t, reg)
	in := instance("app", "v3", "blue")
	for k, v := range map[string]float64{
		key("pier_proxy_requests_total", in, `code="2xx"`):                   2,
		key("pier_proxy_requests_total", in, `code="5xx"`):                   1,
		key("pier_proxy_request_duration_seconds_count", in):                 3,
		key("pier_proxy_requests_in_flight", in):                             0,
		key("pier_proxy_request_bytes_total", in):                            12,
		key("pier_proxy_response_bytes_total", in):                           float64(len("web.1") + len("boom\n") + len("12")),
		key("pier_proxy_upstream_connect_errors_total", in):                  0,
		key("pier_proxy_requests_total", instanceNone(""), `code="4xx"`):     1,
		key("pier_proxy_requests_total", instanceNone("down"), `code="5xx"`): 1,
	} {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if strings.Contains(k, "nobody") || strings.Contains(k, "secret") || strings.Contains(k, "host=") {
			t.Errorf("a series names a host or a path: %s", k)
		}
	}
}

// instanceNone is the label set of an app's requests that reached no instance.
func instanceNone(app string) string {
	return fmt.Sprintf(`app=%q,process_type="",release="",slot=""`, app)
}

func TestMetricsOfOldReleasesAreDeleted(t *testing.T) {
	reg := prometheus.NewRegistry()
	blue, green := newUpstream(t, "web.1"), newUpstream(t, "web.1")
	f := newFront(t, Config{Registerer: reg})
	route := func(u *upstream, slot string, release int, standby ...int) Route {
		r := appRoute("app", u)
		r.Upstreams[0].Slot, r.Upstreams[0].Release, r.Releases = slot, release, standby
		return r
	}
	has := func(release string) bool {
		for k := range scrape(t, reg) {
			if strings.Contains(k, `release="`+release+`"`) {
				return true
			}
		}
		return false
	}
	f.SetRoutes([]Route{route(blue, "blue", 1)})
	f.do(t, "GET", "app.localhost", "/")
	f.SetRoutes([]Route{route(green, "green", 2, 1)}) // v1 is the standby
	f.do(t, "GET", "app.localhost", "/")
	if !has("v1") || !has("v2") {
		t.Fatalf("the live and standby releases' series: %v", scrape(t, reg))
	}
	f.SetRoutes([]Route{route(blue, "blue", 3, 2)}) // v1 is neither
	if has("v1") || !has("v2") || !has("v3") {
		t.Errorf("after v3 went live with v2 as standby: %v", scrape(t, reg))
	}
	f.SetRoutes(nil)
	for k := range scrape(t, reg) {
		if strings.Contains(k, `app="app"`) {
			t.Errorf("a series of an app that left the table: %s", k)
		}
	}
}

// TestEnginesCountAlike sends the same requests through Front with and
// without event loops and compares the series each counted.
func TestEnginesCountAlike(t *testing.T) {
	deadAddr := closedAddr(t)
	raw := newRawUpstream(t, map[string]string{
		"/ok":   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok",
		"/err":  "HTTP/1.1 503 Busy\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbusy",
		"/junk": "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
		"/late": strings.Repeat("<pause>", 20) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
	})
	routes := func() []Route {
		r := raw.route()
		r.Upstreams[0].Slot, r.Upstreams[0].Release = "green", 2
		two := Route{App: "two", Hosts: []string{"two.localhost"}, Upstreams: []Upstream{
			{Addr: deadAddr, Name: "web.1", Slot: "blue", Release: 5}, r.Upstreams[0]}}
		one := Route{App: "one", Hosts: []string{"one.localhost"}, Upstreams: []Upstream{{Addr: deadAddr, Name: "web.1", Slot: "blue", Release: 1}}}
		return []Route{r, two, one}
	}
	run := func(loops bool) map[string]float64 {
		reg := prometheus.NewRegistry()
		f := newFrontWith(t, Config{Registerer: reg, ResponseHeaderTimeout: 200 * time.Millisecond}, loops)
		f.SetRoutes(routes())
		rc := dialRaw(t, f.srv.Listener.Addr().String())
		for _, q := range []struct{ method, host, path, body string }{
			{"GET", "app.localhost", "/ok", ""}, {"HEAD", "app.localhost", "/ok", ""},
			{"POST", "app.localhost", "/ok", "hello"}, {"GET", "app.localhost", "/err", ""},
			{"GET", "app.localhost", "/junk", ""}, {"GET", "app.localhost", "/late", ""},
			{"GET", "nobody.localhost", "/", ""}, {"GET", "two.localhost", "/ok", ""},
			{"GET", "two.localhost", "/ok", ""}, {"GET", "one.localhost", "/", ""},
		} {
			rc.send(fmt.Sprintf("%s %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n%s", q.method, q.path, q.host, len(q.body), q.body))
			rc.read(q.method)
		}
		eventually(t, 2*time.Second, "ten log lines", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return len(f.logs) == 10 })
		return scrape(t, reg)
	}
	gor, loop := run(false), run(true)
	if fmt.Sprint(gor) != fmt.Sprint(loop) {
		for k, v := range gor {
			if loop[k] != v {
				t.Errorf("%s: goroutines %v, loops %v", k, v, loop[k])
			}
		}
		for k, v := range loop {
			if _, ok := gor[k]; !ok {
				t.Errorf("%s: loops only, %v", k, v)
			}
		}
	}
	for k, v := range map[string]float64{
		key("pier_proxy_failed_requests_total", instance("app", "v2", "green"), `cause="upstream_error"`, `code="502"`): 1,
		key("pier_proxy_failed_requests_total", instance("app", "v2", "green"), `cause="timeout"`, `code="504"`):        1,
		key("pier_proxy_failed_requests_total", instance("one", "v1", "blue"), `cause="connect_failed"`, `code="502"`):  1,
		key("pier_proxy_upstream_connect_errors_total", instance("one", "v1", "blue")):                                  1,
		key("pier_proxy_upstream_connect_errors_total", instance("two", "v5", "blue")):                                  1,
		key("pier_proxy_upstream_retries_total", instance("two", "v5", "blue")):                                         1,
		key("pier_proxy_requests_total", instance("two", "v2", "green"), `code="2xx"`):                                  2,
		key("pier_proxy_request_bytes_total", instance("app", "v2", "green")):                                           5,
	} {
		if gor[k] != v {
			t.Errorf("%s = %v, want %v", k, gor[k], v)
		}
	}
}
