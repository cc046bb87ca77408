package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSwapUnderLoadFailsNoRequest(t *testing.T) {
	blue := appRoute("app", newUpstream(t, "web.1"), newUpstream(t, "web.2"))
	green := appRoute("app", newUpstream(t, "web.3"), newUpstream(t, "web.4"))
	for i := range green.Upstreams {
		green.Upstreams[i].Slot = "green"
	}
	f := newFront(t, Config{})
	f.SetRoutes([]Route{blue})

	var failed, total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
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
	for i := 0; i < 100; i++ {
		if i%2 == 0 {
			f.SetRoutes([]Route{green})
		} else {
			f.SetRoutes([]Route{blue})
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 || total.Load() == 0 {
		t.Errorf("%d of %d requests failed during 100 swaps", failed.Load(), total.Load())
	}
	st := f.Stats("app")
	if st["blue"].Requests == 0 || st["green"].Requests == 0 {
		t.Errorf("both slots should have served: %+v", st)
	}
}

func TestInstanceLeavingTheTableFinishesItsRequests(t *testing.T) {
	started := make(chan struct{})
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "old finished")
	}))
	defer old.Close()
	next := newUpstream(t, "web.2")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"}, Upstreams: []Upstream{{Addr: old.Listener.Addr().String(), Name: "web.1"}}}})

	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest("GET", f.srv.URL+"/slow", nil)
		req.Host = "app.localhost"
		resp, err := f.srv.Client().Do(req)
		if err != nil {
			done <- answer{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- answer{resp.StatusCode, string(b)}
	}()
	<-started
	f.SetRoutes([]Route{appRoute("app", next)})
	if resp, body := f.do(t, "GET", "app.localhost", "/"); resp.StatusCode != 200 || body != "web.2" {
		t.Errorf("new request after the swap: %d %q", resp.StatusCode, body)
	}
	if a := <-done; a.code != 200 || a.body != "old finished" {
		t.Errorf("in-flight request on the drained instance: %d %q", a.code, a.body)
	}
	if h := f.Healthy("app"); len(h) != 1 || h[0].Name != "web.2" {
		t.Errorf("in rotation after the swap: %+v", h)
	}
}

func TestStatsCount5xxPerSlot(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u)})
	var last *http.Response
	for _, path := range []string{"/", "/", "/fail", "/", "/fail"} {
		last, _ = f.do(t, "GET", "app.localhost", path)
	}
	f.logOf(t, last) // counted before the log line is handed over
	if got := f.Stats("app"); len(got) != 1 || got["blue"] != (Counters{Requests: 5, Errors5xx: 2}) {
		t.Errorf("stats %+v, want blue 5 requests, 2 errors", got)
	}
	if got := f.Stats("other"); len(got) != 0 {
		t.Errorf("stats of an unknown app: %+v", got)
	}
}

func TestNormalizeHost(t *testing.T) {
	for in, want := range map[string]string{
		"App.Localhost:8080": "app.localhost",
		"app.localhost":      "app.localhost",
		"example.com.":       "example.com",
		"[::1]:8080":         "::1",
		"127.0.0.1:80":       "127.0.0.1",
		"":                   "",
	} {
		if got := normalizeHost(in); got != want {
			t.Errorf("normalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAddrStringSpellsTheAddress(t *testing.T) {
	for _, remote := range []string{"127.0.0.1:40000", "10.1.2.3:1", "[::1]:80", "[::ffff:10.0.0.7]:80", "[fe80::1%eth0]:80"} {
		ap := netip.MustParseAddrPort(remote)
		a := ap.Addr().Unmap()
		if got, want := addrString(a, remote), a.String(); got != want {
			t.Errorf("addrString(%v, %q) = %q, want %q", a, remote, got, want)
		}
	}
}
