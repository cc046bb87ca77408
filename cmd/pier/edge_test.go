package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/proxy/certs/pebbletest"

	"github.com/pierhq/pier/api"
)

const edgeDomain = "edge.test"

// edgeAgent is an agent with HTTPS on, getting its certificates from Pebble.
type edgeAgent struct {
	*agentProc
	httpsAddr string
	pebble    *pebbletest.Server
}

// startEdgeAgent starts Pebble and an agent whose plain and HTTPS listeners
// are the ports Pebble validates HTTP-01 and TLS-ALPN-01 on.
func startEdgeAgent(t *testing.T) *edgeAgent {
	t.Helper()
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	return startEdgeAgentOn(t, httpAddr, httpsAddr, portOfAddr(httpAddr))
}

// startEdgeAgentOn is startEdgeAgent with the port Pebble sends HTTP-01
// validations to chosen by the caller.
func startEdgeAgentOn(t *testing.T, httpAddr, httpsAddr, pebbleHTTPPort string) *edgeAgent {
	t.Helper()
	p := startPebble(t, pebbleHTTPPort, portOfAddr(httpsAddr))
	a := startAgent(t, agentOpts{extra: append(edgeEnv(p, httpAddr, httpsAddr),
		// Daily backups, so /metrics has the backup series the rules name.
		"PIER_BACKUP_SCHEDULE=24h",
		"PIER_BACKUP_TO="+t.TempDir(),
	)})
	a.httpAddr = httpAddr
	return &edgeAgent{agentProc: a, httpsAddr: httpsAddr, pebble: p}
}

// edgeEnv is the environment of an agent serving HTTPS on httpsAddr with
// certificates from Pebble p.
func edgeEnv(p *pebbletest.Server, httpAddr, httpsAddr string) []string {
	return []string{
		"PIER_HTTP_ADDR=" + httpAddr,
		"PIER_HTTPS_ADDR=" + httpsAddr,
		"PIER_DOMAIN=" + edgeDomain,
		"PIER_ACME_CA=" + p.DirectoryURL,
		"PIER_ACME_CA_ROOT=" + p.CARoot,
		"PIER_ACME_EMAIL=ops@" + edgeDomain,
	}
}

// run runs a subtest whose CLI calls fail the subtest, not the parent.
func (e *edgeAgent) run(t *testing.T, name string, fn func(t *testing.T)) {
	t.Run(name, func(st *testing.T) {
		e.t = st
		defer func() { e.t = t }()
		fn(st)
	})
}

// dialTo sends every connection to addr, whatever host the URL names, as
// DNS pointing the names at this machine would.
func dialTo(addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
}

// httpsClient trusts only Pebble's issuing root and speaks HTTP/2 when
// offered; it does not follow redirects.
func (e *edgeAgent) httpsClient() *http.Client {
	return &http.Client{
		Timeout: 15 * time.Second,
		Transport: &http.Transport{
			DialContext:       dialTo(e.httpsAddr),
			TLSClientConfig:   &tls.Config{RootCAs: e.pebble.Roots},
			ForceAttemptHTTP2: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func (e *edgeAgent) plainClient() *http.Client {
	return &http.Client{
		Timeout:       15 * time.Second,
		Transport:     &http.Transport{DialContext: dialTo(e.httpAddr)},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type edgeAnswer struct {
	code   int
	proto  string
	body   string
	header http.Header
}

func fetch(c *http.Client, url string, hdr ...string) (edgeAnswer, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return edgeAnswer{}, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return edgeAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return edgeAnswer{resp.StatusCode, resp.Proto, string(b), resp.Header}, err
}

func (e *edgeAgent) httpsURL(host, path string) string {
	return "https://" + host + ":" + portOfAddr(e.httpsAddr) + path
}

// certOf returns what `pier certs --json` says about host.
func (e *edgeAgent) certOf(app, host string) api.Cert {
	var cs []api.Cert
	e.pierJSON(&cs, "certs", "-a", app)
	for _, c := range cs {
		if c.Host == host {
			return c
		}
	}
	return api.Cert{Host: host, Status: "not listed"}
}

func (e *edgeAgent) waitCert(t *testing.T, app, host, status string) api.Cert {
	t.Helper()
	var c api.Cert
	waitFor(t, 90*time.Second, host+" certificate "+status, func() bool {
		c = e.certOf(app, host)
		return c.Status == status
	})
	return c
}

// handshake opens a TLS connection for host without verifying it and
// returns the names on the certificate served, or the handshake's error.
func (e *edgeAgent) handshake(host string) ([]string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", e.httpsAddr, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].DNSNames, nil
}

// TestEdge is HTTPS end to end against a real ACME server (Pebble) that
// validates against the agent's own listeners: certificates for an app, a
// custom domain and the control host, redirects and security headers,
// removal, a failing order, a restart with the ACME server gone, and the
// proxy's defences.
func TestEdge(t *testing.T) {
	needE2E(t)
	e := startEdgeAgent(t)
	t.Cleanup(func() {
		for _, app := range []string{"hello", "other"} {
			e.pier("apps", "destroy", "-a", app, "--confirm", app)
		}
	})
	e.mustPier("apps", "create", "hello")
	e.mustPier("apps", "create", "other")
	shareGoBuildCache(t, e.agentProc, "hello")
	repo := newRepo(t, "hello")
	repo.remote(e.agentProc, "hello", e.token)
	if out, err := repo.push("main"); err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	appHost := "hello." + edgeDomain
	https := e.httpsClient()

	e.run(t, "certificate for the app", func(t *testing.T) {
		c := e.waitCert(t, "hello", appHost, "valid")
		if c.Issuer == "" || time.Until(c.NotAfter) < 24*time.Hour {
			t.Errorf("pier certs shows %+v, want an issuer and an expiry ahead", c)
		}
		if out := e.mustPier("certs", "-a", "hello"); !strings.Contains(out, appHost) || !strings.Contains(out, "valid") {
			t.Errorf("pier certs table:\n%s", out)
		}
		ans, err := fetch(https, e.httpsURL(appHost, "/"))
		if err != nil {
			t.Fatalf("HTTPS GET verified against Pebble's root: %v", err)
		}
		if ans.code != 200 || !strings.Contains(ans.body, "hello from hello v1") || ans.proto != "HTTP/2.0" {
			t.Errorf("HTTPS GET = %d %s %q, want 200 over HTTP/2 from the app", ans.code, ans.proto, ans.body)
		}
		if got := ans.header.Get("Strict-Transport-Security"); !strings.Contains(got, "max-age=") {
			t.Errorf("HTTPS edgeAnswer has Strict-Transport-Security %q", got)
		}
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy"} {
			if ans.header.Get(h) == "" {
				t.Errorf("HTTPS edgeAnswer lacks the security header %s", h)
			}
		}
		plain, err := fetch(e.plainClient(), "http://"+appHost+":"+portOfAddr(e.httpAddr)+"/a?b=c")
		if err != nil || plain.code != http.StatusPermanentRedirect || plain.header.Get("Location") != e.httpsURL(appHost, "/a?b=c") {
			t.Errorf("plain HTTP = %d Location %q (%v), want 308 to %s", plain.code, plain.header.Get("Location"), err, e.httpsURL(appHost, "/a?b=c"))
		}
		if plain.header.Get("Strict-Transport-Security") != "" {
			t.Error("a plain-HTTP edgeAnswer carries HSTS")
		}
	})

	e.run(t, "control host reaches the API over HTTPS", func(t *testing.T) {
		url := e.httpsURL("pier."+edgeDomain, "/v1/apps")
		var ans edgeAnswer
		waitFor(t, 90*time.Second, "the control host's certificate", func() bool {
			var err error
			ans, err = fetch(https, url, "Authorization", "Bearer "+e.token)
			return err == nil
		})
		var apps []api.App
		if err := json.Unmarshal([]byte(ans.body), &apps); ans.code != 200 || err != nil || len(apps) != 2 {
			t.Errorf("GET /v1/apps on the control host = %d %q (%v)", ans.code, ans.body, err)
		}
	})

	e.run(t, "custom domain", func(t *testing.T) { edgeCustomDomain(t, e, https) })
	e.run(t, "bad domains", func(t *testing.T) { edgeBadDomains(t, e) })
	e.run(t, "failing order", func(t *testing.T) { edgeFailingOrder(t, e) })
	e.run(t, "settings and maintenance", func(t *testing.T) { edgeSettings(t, e, https) })
	e.run(t, "hostile clients", func(t *testing.T) { edgeHostileClients(t, e, https) })

	e.run(t, "restart without the ACME server", func(t *testing.T) {
		e.pebble.Stop()
		e.stop()
		e.start()
		c := e.httpsClient()
		var ans edgeAnswer
		var err error
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			// The instance is re-adopted and checked again: 503 until then.
			if ans, err = fetch(c, e.httpsURL(appHost, "/")); err != nil || ans.code == 200 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err != nil || ans.code != 200 || !strings.Contains(ans.body, "hello from hello") {
			t.Fatalf("after a restart with Pebble gone, HTTPS GET = %d %q (%v); want the stored certificate served", ans.code, ans.body, err)
		}
		if c := e.certOf("hello", appHost); c.Status != "valid" {
			t.Errorf("after the restart pier certs shows %+v", c)
		}
	})
}

func edgeCustomDomain(t *testing.T, e *edgeAgent, https *http.Client) {
	const host = "www.hello-site.test"
	e.mustPier("domains", "add", "-a", "hello", host)
	if out := e.mustPier("domains", "list", "-a", "hello"); !strings.Contains(out, host) {
		t.Errorf("domains list:\n%s", out)
	}
	e.waitCert(t, "hello", host, "valid")
	ans, err := fetch(https, e.httpsURL(host, "/"))
	if err != nil || ans.code != 200 || !strings.Contains(ans.body, "hello from hello") {
		t.Fatalf("HTTPS GET %s = %d %q (%v)", host, ans.code, ans.body, err)
	}
	e.mustPier("domains", "remove", "-a", "hello", host)
	if names, err := e.handshake(host); err == nil {
		t.Errorf("a removed domain still gets a certificate for %v", names)
	} else if !strings.Contains(err.Error(), "remote error: tls") {
		t.Errorf("handshake for a removed domain failed with %v, want a TLS alert", err)
	}
	if out := e.mustPier("domains", "list", "-a", "hello"); strings.Contains(out, host) {
		t.Errorf("domains list after remove:\n%s", out)
	}
}

func edgeBadDomains(t *testing.T, e *edgeAgent) {
	e.mustPier("domains", "add", "-a", "other", "www.other-site.test")
	for _, c := range []struct{ host, want string }{
		{"not_a_domain!", "not a valid domain"},
		{"*.hello-site.test", "wildcard"},
		{"www.other-site.test", "another app"},
		{"pier." + edgeDomain, "control host"},
		{"localhost", "not a valid domain"},
	} {
		r := e.pier("domains", "add", "-a", "hello", c.host)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("domains add %s: exit %d, stderr %q; want an error saying %q", c.host, r.code, r.stderr, c.want)
		}
	}
	var ds []api.Domain
	e.pierJSON(&ds, "domains", "list", "-a", "hello")
	if len(ds) != 0 {
		t.Errorf("refused domains were added: %+v", ds)
	}
}

func edgeFailingOrder(t *testing.T, e *edgeAgent) {
	host := unreachablePrefix + "hello-site.test"
	e.mustPier("domains", "add", "-a", "hello", host)
	c := e.waitCert(t, "hello", host, "failing")
	if c.LastError == "" || c.NextRetry.IsZero() {
		t.Errorf("a failing certificate shows %+v, want the last error and the next retry", c)
	}
	if out := e.mustPier("certs", "-a", "hello"); !strings.Contains(out, "failing") {
		t.Errorf("pier certs table lacks the failing host:\n%s", out)
	}
	waitFor(t, 10*time.Second, "the failure in pier logs", func() bool {
		out := e.mustPier("logs", "-a", "hello", "-n", "500")
		return strings.Contains(out, "app[pier]") && strings.Contains(out, "certificate of "+host)
	})
	if ans, err := fetch(e.plainClient(), "http://hello."+edgeDomain+"/"); err != nil || ans.code != http.StatusPermanentRedirect {
		t.Errorf("plain HTTP of the app after a failed order = %d %q (%v), want the redirect as before", ans.code, ans.body, err)
	}
	e.mustPier("domains", "remove", "-a", "hello", host)
}

func edgeSettings(t *testing.T, e *edgeAgent, https *http.Client) {
	url := e.httpsURL("hello."+edgeDomain, "/")
	e.mustPier("settings", "set", "-a", "hello", "rate-limit=1", "rate-burst=2", "header.X-Frame-Options=", "header.Content-Security-Policy=default-src 'self'")
	var limited edgeAnswer
	for i := 0; i < 6 && limited.code != http.StatusTooManyRequests; i++ {
		ans, err := fetch(https, url)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (ans.header.Get("X-Frame-Options") != "" || ans.header.Get("Content-Security-Policy") != "default-src 'self'") {
			t.Errorf("header overrides not applied: X-Frame-Options %q, Content-Security-Policy %q",
				ans.header.Get("X-Frame-Options"), ans.header.Get("Content-Security-Policy"))
		}
		limited = ans
	}
	if limited.code != http.StatusTooManyRequests || limited.header.Get("Retry-After") == "" {
		t.Errorf("with rate-limit=1 six quick requests ended with %d, Retry-After %q; want 429 with Retry-After",
			limited.code, limited.header.Get("Retry-After"))
	}
	if r := e.pier("settings", "set", "-a", "hello", "rate-limit=lots"); r.code == 0 || !strings.Contains(r.stderr, "rate-limit") {
		t.Errorf("a bad rate-limit: exit %d, stderr %q", r.code, r.stderr)
	}
	e.mustPier("settings", "unset", "-a", "hello", "rate-limit", "rate-burst", "header.X-Frame-Options", "header.Content-Security-Policy")
	var set map[string]string
	e.pierJSON(&set, "settings", "-a", "hello")
	if len(set) != 0 {
		t.Errorf("settings after unset: %v", set)
	}
	if ans, err := fetch(https, url); err != nil || ans.code != 200 || ans.header.Get("X-Frame-Options") == "" {
		t.Errorf("after unset GET = %d, X-Frame-Options %q (%v)", ans.code, ans.header.Get("X-Frame-Options"), err)
	}

	e.mustPier("maintenance", "-a", "hello", "on")
	ans, err := fetch(https, url)
	if err != nil || ans.code != http.StatusServiceUnavailable || ans.header.Get("Retry-After") == "" || !strings.Contains(strings.ToLower(ans.body), "maintenance") {
		t.Errorf("in maintenance GET = %d Retry-After %q %q (%v)", ans.code, ans.header.Get("Retry-After"), ans.body, err)
	}
	e.mustPier("maintenance", "-a", "hello", "off")
	if ans, err := fetch(https, url); err != nil || ans.code != 200 {
		t.Errorf("after maintenance off GET = %d (%v)", ans.code, err)
	}
}

// rawExchange sends raw bytes to the plain listener and returns the status
// line of the answer.
func rawExchange(t *testing.T, addr, req string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 128)
	n, _ := io.ReadAtLeast(conn, b, 12)
	line, _, _ := strings.Cut(string(b[:n]), "\r\n")
	return line
}

func edgeHostileClients(t *testing.T, e *edgeAgent, https *http.Client) {
	host := "hello." + edgeDomain
	big := strings.Repeat("x", 100<<10)
	if got := rawExchange(t, e.httpAddr, "GET / HTTP/1.1\r\nHost: "+host+"\r\nX-Big: "+big+"\r\n\r\n"); !strings.Contains(got, " 431 ") {
		t.Errorf("a 100 KB header got %q, want 431", got)
	}
	if got := rawExchange(t, e.httpAddr, "NOT HTTP AT ALL\r\n\r\n"); !strings.Contains(got, " 400 ") {
		t.Errorf("a malformed request got %q, want 400", got)
	}

	// A slowloris client sends its headers one byte a second; the server
	// must drop it at its header timeout while others are served.
	conn, err := net.DialTimeout("tcp", e.httpAddr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, c := range []byte("GET / HTTP/1.1\r\nHost: " + host + "\r\nX-Slow: " + strings.Repeat("s", 60)) {
			if _, err := conn.Write([]byte{c}); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	}()
	for i := 0; i < 3; i++ {
		time.Sleep(time.Second)
		if ans, err := fetch(https, e.httpsURL(host, "/")); err != nil || ans.code != 200 {
			t.Errorf("while a slowloris client hangs on, GET = %d (%v)", ans.code, err)
		}
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, rerr := io.Copy(io.Discard, conn)
	cut := time.Since(start)
	conn.Close()
	<-done
	if cut > 20*time.Second || rerr != nil && isTimeout(rerr) {
		t.Errorf("the slowloris connection lasted %s (%v), want it cut at the header timeout", cut, rerr)
	}
	t.Logf("slowloris connection cut after %s", cut.Round(100*time.Millisecond))
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestEdgeTLSALPN makes HTTP-01 impossible (Pebble validates it on a port
// where nothing listens), so the certificate can only come through a real
// TLS-ALPN-01 validation on the agent's HTTPS listener.
func TestEdgeTLSALPN(t *testing.T) {
	needE2E(t)
	e := startEdgeAgentOn(t, freeAddr(t), freeAddr(t), portOfAddr(freeAddr(t)))
	t.Cleanup(func() { e.pier("apps", "destroy", "-a", "alpn", "--confirm", "alpn") })
	e.mustPier("apps", "create", "alpn")
	host := "alpn." + edgeDomain
	e.waitCert(t, "alpn", host, "valid")
	ans, err := fetch(e.httpsClient(), e.httpsURL(host, "/"))
	if err != nil || ans.code != http.StatusServiceUnavailable {
		t.Fatalf("HTTPS GET of an app with nothing deployed = %d %q (%v), want a verified 503", ans.code, ans.body, err)
	}
	// HTTP-01 could not succeed, so the authorization Pebble marked valid
	// was a TLS-ALPN-01 challenge answered by the HTTPS listener.
	if log := e.pebble.Log(); !strings.Contains(log, "set VALID") {
		t.Errorf("Pebble validated no authorization:\n%s", log)
	}
	t.Logf("pebble: %s", grepLines(e.pebble.Log(), "VALID"))
}
