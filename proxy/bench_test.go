//go:build unix

package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
		fs := serveFront(b, p, false)
		defer fs.Close()
		benchmarkClient(b, fs.URL)
	})
	b.Run("Front-loops", func(b *testing.B) {
		fs := serveFront(b, p, true)
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

// BenchmarkFrontLean measures the lean path alone: a raw keep-alive client
// and a raw upstream that answer with fixed bytes, so that allocs/op and
// B/op are the proxy's own.
func BenchmarkFrontLean(b *testing.B) {
	ul, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ul.Close()
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nDate: Thu, 26 Nov 2026 00:00:00 GMT\r\n\r\nok")
	go func() {
		for {
			c, err := ul.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					for { // up to the blank line that ends the head
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) == 2 {
							break
						}
					}
					if _, err := c.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	// With the metrics on, as the agent runs the proxy.
	p := New(Config{Domain: "localhost", Registerer: prometheus.NewRegistry()})
	defer p.Close()
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: ul.Addr().String(), Name: "web.1", Slot: "blue", Release: 1}}}})
	for _, mode := range []struct {
		name  string
		loops bool
	}{{"goroutines", false}, {"loops", true}} {
		b.Run(mode.name, func(b *testing.B) {
			fs := serveFront(b, p, mode.loops)
			defer fs.Close()
			benchmarkRawClient(b, fs.Listener.Addr().String())
		})
	}
}

// benchmarkRawClient sends GET requests for app.localhost to addr on one
// keep-alive connection and reads the answers.
func benchmarkRawClient(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	req := []byte("GET /path?q=1 HTTP/1.1\r\nHost: app.localhost\r\nUser-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip\r\n\r\n")
	b.ReportAllocs()
	b.ResetTimer()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
