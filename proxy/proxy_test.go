package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRoutesByHostIgnoringPortAndCase(t *testing.T) {
	a, b := newUpstream(t, "a.1"), newUpstream(t, "b.1")
	f := newFront(t, Config{ControlHost: "pier.localhost", Control: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "control")
	})})
	ra := appRoute("alpha", a)
	ra.Hosts = append(ra.Hosts, "www.example.com")
	f.SetRoutes([]Route{ra, appRoute("beta", b)})

	for host, want := range map[string]string{
		"alpha.localhost":      "a.1",
		"ALPHA.Localhost:8080": "a.1",
		"www.example.com.":     "a.1",
		"beta.localhost:80":    "b.1",
		"Pier.localhost:7070":  "control",
	} {
		resp, body := f.do(t, "GET", host, "/")
		if resp.StatusCode != 200 || body != want {
			t.Errorf("Host %s: got %d %q, want 200 %q", host, resp.StatusCode, body, want)
		}
	}
	resp, _ := f.do(t, "GET", "beta.localhost", "/items?token=secret")
	if got := f.logOf(t, resp); got.App != "beta" || got.Upstream != "b.1" || got.Slot != "blue" || got.Status != 200 ||
		got.Method != "GET" || got.Path != "/items" || got.Host != "beta.localhost" || got.Bytes != 3 || got.Duration <= 0 {
		t.Errorf("router log = %+v", got)
	}
	if !f.HostKnown("Alpha.localhost:443") || !f.HostKnown("pier.localhost") || f.HostKnown("gamma.localhost") {
		t.Error("HostKnown disagrees with the route table")
	}
}

func TestUnknownHostIs404(t *testing.T) {
	f := newFront(t, Config{ControlHost: "pier.localhost"})
	f.SetRoutes([]Route{appRoute("alpha", newUpstream(t, "a.1"))})
	resp, body := f.do(t, "GET", "nobody.localhost:8080", "/")
	if resp.StatusCode != 404 || !strings.Contains(body, "No app is at nobody.localhost") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("X-Request-ID") == "" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("404 page lacks request id or security headers: %v", resp.Header)
	}
	// The control host without a Control handler is not found either.
	if resp, _ := f.do(t, "GET", "pier.localhost", "/"); resp.StatusCode != 404 {
		t.Errorf("control host without handler: %d", resp.StatusCode)
	}
}

func TestRoundRobinAcrossThreeInstances(t *testing.T) {
	ups := []*upstream{newUpstream(t, "web.1"), newUpstream(t, "web.2"), newUpstream(t, "web.3")}
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", ups...)})
	for i := 0; i < 30; i++ {
		if resp, _ := f.do(t, "GET", "app.localhost", "/"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	for _, u := range ups {
		if n := u.hits.Load(); n != 10 {
			t.Errorf("%s got %d of 30 requests, want 10", u.name, n)
		}
	}
}

func TestNothingRunningIs503(t *testing.T) {
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app")})
	resp, body := f.do(t, "GET", "app.localhost", "/")
	if resp.StatusCode != 503 || !strings.Contains(body, "No instance of app is running") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if l := f.logOf(t, resp); l.App != "app" || l.Status != 503 || l.Error == "" {
		t.Errorf("router log = %+v", l)
	}
}

func TestMaintenanceKeepsCheckingHealth(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{})
	r := appRoute("app", u)
	r.Maintenance = true
	f.SetRoutes([]Route{r})
	resp, body := f.do(t, "GET", "app.localhost", "/")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "60" || !strings.Contains(body, "down for maintenance") {
		t.Errorf("got %d Retry-After=%q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("maintenance page Content-Type %q", ct)
	}
	if u.hits.Load() != 0 {
		t.Error("a request reached the app during maintenance")
	}
	eventually(t, 2e9, "health checks continue during maintenance", func() bool { return u.checks.Load() >= 2 })
}

func TestForwardedHeadersFromUntrustedClient(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u)})
	resp, _ := f.do(t, "GET", "app.localhost:8080", "/", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Proto", "https", "X-Forwarded-Host", "evil.example")
	h := resp.Header
	if h.Get("Echo-X-Forwarded-For") != "127.0.0.1" || h.Get("Echo-X-Forwarded-Proto") != "http" || h.Get("Echo-X-Forwarded-Host") != "app.localhost:8080" {
		t.Errorf("app saw XFF=%q proto=%q host=%q", h.Get("Echo-X-Forwarded-For"), h.Get("Echo-X-Forwarded-Proto"), h.Get("Echo-X-Forwarded-Host"))
	}
	if h.Get("Echo-Host") != "app.localhost:8080" {
		t.Errorf("app saw Host %q", h.Get("Echo-Host"))
	}
	if l := f.logOf(t, resp); l.ClientIP != "127.0.0.1" {
		t.Errorf("client IP %q, want the connection's", l.ClientIP)
	}
}

func TestForwardedHeadersFromTrustedProxy(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{TrustedProxies: loopback})
	f.SetRoutes([]Route{appRoute("app", u)})
	resp, _ := f.do(t, "GET", "app.localhost", "/", "X-Forwarded-For", "203.0.113.9, 127.0.0.2", "X-Forwarded-Proto", "https")
	h := resp.Header
	if got := h.Get("Echo-X-Forwarded-For"); got != "203.0.113.9, 127.0.0.2, 127.0.0.1" {
		t.Errorf("app saw XFF %q", got)
	}
	if got := h.Get("Echo-X-Forwarded-Proto"); got != "https" {
		t.Errorf("app saw proto %q", got)
	}
	if l := f.logOf(t, resp); l.ClientIP != "203.0.113.9" {
		t.Errorf("client IP %q, want the first untrusted address", l.ClientIP)
	}
}

func TestRequestID(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{})
	f.SetRoutes([]Route{appRoute("app", u)})

	resp, _ := f.do(t, "GET", "app.localhost", "/", "X-Request-ID", "abc-123_x.y")
	if resp.Header.Get("Echo-X-Request-Id") != "abc-123_x.y" || resp.Header.Get("X-Request-ID") != "abc-123_x.y" {
		t.Errorf("sane id not kept: app %q, answer %q", resp.Header.Get("Echo-X-Request-Id"), resp.Header.Get("X-Request-ID"))
	}
	for _, bad := range []string{"", "has space", strings.Repeat("a", 201), "<script>"} {
		resp, _ := f.do(t, "GET", "app.localhost", "/", "X-Request-ID", bad)
		got, seen := resp.Header.Get("X-Request-ID"), resp.Header.Get("Echo-X-Request-Id")
		if len(got) != 36 || got != seen || got == bad {
			t.Errorf("incoming %q: answer id %q, app saw %q; want one fresh id", bad, got, seen)
		}
		f.logOf(t, resp) // the router log line carries the same id
	}
}

func TestSecurityHeadersAndOverrides(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{})
	plain, custom := appRoute("plain", u), appRoute("custom", u)
	custom.Headers = map[string]string{"x-frame-options": "DENY", "Referrer-Policy": "", "Permissions-Policy": "camera=()"}
	f.SetRoutes([]Route{plain, custom})

	resp, _ := f.do(t, "GET", "plain.localhost", "/")
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "strict-origin-when-cross-origin"} {
		if got := resp.Header.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if resp.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}
	// The app's own value wins over the default.
	resp, _ = f.do(t, "GET", "plain.localhost", "/frame-deny")
	if got := resp.Header.Values("X-Frame-Options"); len(got) != 1 || got[0] != "DENY" {
		t.Errorf("app's X-Frame-Options became %q", got)
	}
	resp, _ = f.do(t, "GET", "custom.localhost", "/")
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Permissions-Policy") != "camera=()" {
		t.Errorf("overrides not applied: %v", resp.Header)
	}
	if _, ok := resp.Header["Referrer-Policy"]; ok {
		t.Error(`Referrer-Policy "" did not delete the header`)
	}
}

func TestHSTSAndHTTP2OnTLS(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := New(Config{Domain: "localhost"})
	defer p.Close()
	p.SetRoutes([]Route{appRoute("app", u)})
	srv := httptest.NewUnstartedServer(p)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()

	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Host = "app.localhost"
	c := srv.Client()
	c.Transport.(*http.Transport).TLSClientConfig.ServerName = "example.com"
	resp, body := send(t, c, req)
	if resp.StatusCode != 200 || body != "web.1" || resp.ProtoMajor != 2 {
		t.Fatalf("got %s %d %q", resp.Proto, resp.StatusCode, body)
	}
	if resp.Header.Get("Strict-Transport-Security") == "" {
		t.Error("no HSTS on a TLS request")
	}
	if got := resp.Header.Get("Echo-X-Forwarded-Proto"); got != "https" {
		t.Errorf("app saw proto %q", got)
	}

}

func TestRateLimitPerClientIP(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{TrustedProxies: loopback})
	r := appRoute("app", u)
	r.RateLimit = RateLimit{RPS: 0.5, Burst: 2}
	f.SetRoutes([]Route{r})
	from := func(ip string) *http.Response {
		resp, _ := f.do(t, "GET", "app.localhost", "/", "X-Forwarded-For", ip)
		return resp
	}
	for i := 0; i < 2; i++ {
		if resp := from("198.51.100.1"); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp := from("198.51.100.1")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("past the burst: %d Retry-After=%q, want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := from("198.51.100.2"); resp.StatusCode != 200 {
		t.Errorf("another client was limited too: %d", resp.StatusCode)
	}
	if n := u.hits.Load(); n != 3 {
		t.Errorf("app got %d requests, want 3", n)
	}
}

func TestBodyLimit(t *testing.T) {
	u := newUpstream(t, "web.1")
	f := newFront(t, Config{MaxBodyBytes: 1024})
	f.SetRoutes([]Route{appRoute("app", u)})
	post := func(body io.Reader) (*http.Response, string) {
		req, _ := http.NewRequest("POST", f.srv.URL+"/body", body)
		req.Host = "app.localhost"
		return send(t, f.srv.Client(), req)
	}
	if resp, body := post(strings.NewReader(strings.Repeat("x", 1024))); resp.StatusCode != 200 || body != "1024" {
		t.Errorf("body at the limit: %d %q", resp.StatusCode, body)
	}
	if resp, _ := post(strings.NewReader(strings.Repeat("x", 1025))); resp.StatusCode != 413 {
		t.Errorf("declared body over the limit: %d", resp.StatusCode)
	}
	// Without Content-Length (chunked) the limit holds while streaming.
	if resp, body := post(io.MultiReader(strings.NewReader(strings.Repeat("x", 4096)))); resp.StatusCode != 413 {
		t.Errorf("chunked body over the limit: %d %q", resp.StatusCode, body)
	}
}
