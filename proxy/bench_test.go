//go:build unix

package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the CPU time the process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds the metric cpu-ns/op: CPU time per request of the whole
// process (client, proxy and upstream), which unlike ns/op does not grow
// while other programs hold the CPU.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkProxy sends keep-alive requests through a served proxy to a
// trivial upstream, in parallel; allocations include client and servers.
// The proxy is served by Front, as pier serves it, and by a plain net/http
// server for comparison.
func BenchmarkProxy(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	p := New(Config{Domain: "localhost"})
	defer p.Close()
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	b.Run("Front", func(b *testing.B) {
		fs := serveFront(b, p)
		defer fs.Close()
		benchmarkClient(b, fs.URL)
	})
	b.Run("net-http", func(b *testing.B) {
		s := httptest.NewServer(p)
		defer s.Close()
		benchmarkClient(b, s.URL)
	})
}

// benchmarkClient sends GET / for app.localhost to url from parallel
// keep-alive clients.
func benchmarkClient(b *testing.B, url string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		req, _ := http.NewRequest("GET", url+"/", nil)
		req.Host = "app.localhost"
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkServeHTTP measures the proxy's own work per request: routing,
// headers and the upstream round trip, without a client connection.
func BenchmarkServeHTTP(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	defer up.Close()
	p := New(Config{Domain: "localhost"})
	defer p.Close()
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: up.Listener.Addr().String(), Name: "web.1"}}}})
	req := httptest.NewRequest("GET", "http://app.localhost/", nil)
	req.RemoteAddr = "127.0.0.1:40000"
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		p.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("status %d", w.Code)
		}
	}
}
