package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// events records what a Manager reported through Config.OnEvent.
type events struct {
	mu    sync.Mutex
	lines []string
}

func (ev *events) add(host, msg string) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	ev.lines = append(ev.lines, host+": "+msg)
}

func (ev *events) has(host, substr string) bool {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	for _, l := range ev.lines {
		if strings.HasPrefix(l, host+": ") && strings.Contains(l, substr) {
			return true
		}
	}
	return false
}

func (ev *events) String() string {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	return strings.Join(ev.lines, "\n")
}

// knownHosts is the store's view of hosts, for Config.Allowed.
func knownHosts(hosts ...string) func(string) bool {
	return func(h string) bool {
		for _, k := range hosts {
			if k == h {
				return true
			}
		}
		return false
	}
}

func newTestManager(t *testing.T, e *edge, cfg Config) *Manager {
	t.Helper()
	cfg.HTTPPort, cfg.HTTPSPort = e.HTTPPort, e.HTTPSPort
	var mu sync.Mutex // no t.Logf from certmagic's goroutines once the test is over
	done := false
	cfg.Logf = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			t.Logf("certmagic: "+format, args...)
		}
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Close()
		mu.Lock()
		done = true
		mu.Unlock()
	})
	e.mgr.Store(m)
	return m
}

func waitStatus(t *testing.T, m *Manager, host, want string) Status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := m.Status(host)[0]
		if st.Status == want {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: status %q after 30s, want %q (%+v)", host, st.Status, want, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// httpsGet fetches https://host/path from the edge, verifying the served
// certificate against roots and host.
func httpsGet(t *testing.T, e *edge, roots *x509.CertPool, host, path string) (*http.Response, string) {
	t.Helper()
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, "127.0.0.1:"+strconv.Itoa(e.HTTPSPort))
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := client.Get("https://" + host + ":" + strconv.Itoa(e.HTTPSPort) + path)
	if err != nil {
		t.Fatalf("GET https://%s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// handshake connects with SNI host without verifying anything, to see
// what the edge offers; it returns the served leaf or the handshake error.
func handshake(e *edge, host string) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPSPort), &tls.Config{
		ServerName:         host,
		InsecureSkipVerify: true, // we look at whatever is served
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// plainGet fetches http://host/path from the edge without following
// redirects.
func plainGet(t *testing.T, e *edge, host, path string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(e.HTTPPort)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET http://%s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func wantAlert(t *testing.T, e *edge, host string) {
	t.Helper()
	if cert, err := handshake(e, host); err == nil {
		t.Fatalf("handshake for %q served a certificate for %v; want a TLS alert", host, cert.DNSNames)
	}
}

func wantPlainApp(t *testing.T, e *edge, host string) {
	t.Helper()
	resp, body := plainGet(t, e, host, "/")
	if resp.StatusCode != http.StatusOK || body != backendBody {
		t.Fatalf("http://%s/: %d %q, want 200 from the app (no redirect)", host, resp.StatusCode, body)
	}
}

func TestHTTP01IssueServeForgetRestart(t *testing.T) {
	e := startEdge(t)
	p := startPebble(t, e.HTTPPort, e.HTTPSPort, 0)
	const app, www = "app.pier.test", "www.pier.test"
	storage := filepath.Join(t.TempDir(), "certs")
	ev := &events{}
	cfg := Config{
		StorageDir: storage, CA: p.DirectoryURL, CARoot: p.CARoot, Email: "ops@pier.test",
		Allowed: knownHosts(app, www), OnEvent: ev.add, DisableTLSALPNChallenge: true,
	}
	m := newTestManager(t, e, cfg)

	wantPlainApp(t, e, app) // no certificate yet: plain HTTP, no redirect
	wantAlert(t, e, "unknown.pier.test")

	start := time.Now()
	m.Manage(context.Background(), []string{app})
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Manage blocked for %v", d)
	}
	st := waitStatus(t, m, app, StatusValid)
	if !strings.Contains(st.Issuer, "Pebble") || time.Until(st.NotAfter) < 24*time.Hour || st.LastError != "" {
		t.Fatalf("status after issuance: %+v", st)
	}
	if !ev.has(app, "certificate obtained") {
		t.Fatalf("no 'certificate obtained' event; events:\n%s", ev)
	}

	resp, body := httpsGet(t, e, p.Roots, app, "/")
	if resp.StatusCode != http.StatusOK || body != backendBody || resp.Proto != "HTTP/2.0" {
		t.Fatalf("https://%s/: %d %s %q", app, resp.StatusCode, resp.Proto, body)
	}
	if v := resp.TLS.Version; v < tls.VersionTLS12 {
		t.Fatalf("TLS version %x", v)
	}
	serial := resp.TLS.PeerCertificates[0].SerialNumber

	resp, _ = plainGet(t, e, app, "/path?q=1")
	want := "https://" + app + ":" + strconv.Itoa(e.HTTPSPort) + "/path?q=1"
	if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("plain GET after issuance: %d Location %q, want 308 to %s", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	wantAlert(t, e, "unknown.pier.test") // still no fallback to app's certificate
	wantAlert(t, e, "")                  // nor without SNI
	if _, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(e.HTTPSPort), &tls.Config{
		ServerName: app, NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true,
	}); err == nil {
		t.Fatal("a TLS-ALPN-01 handshake with no challenge under way got a certificate")
	}

	// A host the store knows gets a certificate on demand: the first
	// handshake fails, issuance follows.
	wantAlert(t, e, www)
	waitStatus(t, m, www, StatusValid)
	if resp, _ := httpsGet(t, e, p.Roots, www, "/"); resp.StatusCode != http.StatusOK {
		t.Fatalf("https://%s/: %d", www, resp.StatusCode)
	}

	// Removing a domain stops serving it at once.
	m.Forget(www)
	if st := m.Status(www)[0]; st.Status != StatusNone {
		t.Fatalf("status after Forget: %+v", st)
	}
	wantAlert(t, e, www)
	wantPlainApp(t, e, www)
	if got := m.Status(); len(got) != 1 || got[0].Host != app {
		t.Fatalf("managed hosts after Forget: %+v", got)
	}

	// Restart with the ACME server gone: the stored certificate is served,
	// so no new order was needed.
	p.Stop()
	m.Close()
	m2 := newTestManager(t, e, cfg)
	resp, _ = httpsGet(t, e, p.Roots, app, "/")
	if got := resp.TLS.PeerCertificates[0].SerialNumber; got.Cmp(serial) != 0 {
		t.Fatalf("after restart served serial %v, want the stored %v", got, serial)
	}
	m2.Manage(context.Background(), []string{app})
	if st := waitStatus(t, m2, app, StatusValid); st.LastError != "" {
		t.Fatalf("status after restart: %+v", st)
	}
}

func TestTLSALPN01IssueAndFailingOrder(t *testing.T) {
	e := startEdge(t)
	p := startPebble(t, e.HTTPPort, e.HTTPSPort, 0)
	const good, bad = "alpn.pier.test", unreachablePrefix + "pier.test"
	ev := &events{}
	m := newTestManager(t, e, Config{
		StorageDir: t.TempDir(), CA: p.DirectoryURL, CARoot: p.CARoot,
		Allowed: knownHosts(good, bad), OnEvent: ev.add, DisableHTTPChallenge: true,
	})
	m.Manage(context.Background(), []string{good, bad})

	waitStatus(t, m, good, StatusValid)
	resp, body := httpsGet(t, e, p.Roots, good, "/")
	if resp.StatusCode != http.StatusOK || body != backendBody {
		t.Fatalf("https://%s/: %d %q", good, resp.StatusCode, body)
	}

	failedAt := time.Now()
	st := waitStatus(t, m, bad, StatusFailing)
	if st.LastError == "" || !strings.Contains(st.LastError, "127.0.0.2") {
		t.Fatalf("failing status should say why (Pebble could not reach 127.0.0.2): %+v", st)
	}
	if d := st.NextRetry.Sub(failedAt); d < 50*time.Second || d > 70*time.Second {
		t.Fatalf("next retry in %v, want about a minute: %+v", d, st)
	}
	if !ev.has(bad, "obtaining certificate failed") {
		t.Fatalf("no failure event; events:\n%s", ev)
	}
	wantAlert(t, e, bad)
	wantPlainApp(t, e, bad)
}

func TestACMEServerDown(t *testing.T) {
	e := startEdge(t)
	const host = "down.pier.test"
	ev := &events{}
	m := newTestManager(t, e, Config{
		StorageDir: t.TempDir(), CA: "https://127.0.0.1:" + strconv.Itoa(freePort(t)) + "/dir",
		Allowed: knownHosts(host), OnEvent: ev.add,
	})
	start := time.Now()
	m.Manage(context.Background(), []string{host})
	if d := time.Since(start); d > time.Second {
		t.Fatalf("Manage blocked for %v", d)
	}
	st := waitStatus(t, m, host, StatusFailing)
	if !strings.Contains(st.LastError, "connection refused") || st.NextRetry.Before(time.Now()) {
		t.Fatalf("status with the ACME server down: %+v", st)
	}
	if !ev.has(host, "obtaining certificate failed") {
		t.Fatalf("no failure event; events:\n%s", ev)
	}
	wantPlainApp(t, e, host)
	wantAlert(t, e, host)
}

func TestNewRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "root.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no storage", Config{}, "storage directory"},
		{"missing root", Config{StorageDir: dir, CARoot: filepath.Join(dir, "nope.pem")}, "no such file"},
		{"root not PEM", Config{StorageDir: dir, CARoot: notPEM}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := New(tc.cfg)
			if err == nil {
				m.Close()
				t.Fatal("New accepted bad input")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestTLSConfigAndRedirectURL(t *testing.T) {
	m, err := New(Config{StorageDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tc := m.TLSConfig()
	if tc.MinVersion != tls.VersionTLS12 || strings.Join(tc.NextProtos, ",") != "h2,http/1.1,acme-tls/1" {
		t.Fatalf("TLS config: min %x, protos %v", tc.MinVersion, tc.NextProtos)
	}
	for _, s := range tc.CipherSuites {
		if name := tls.CipherSuiteName(s); !strings.Contains(name, "ECDHE") || strings.Contains(name, "CBC") {
			t.Fatalf("weak cipher suite offered: %s", name)
		}
	}
	for _, c := range []struct {
		port int
		want string
	}{
		{0, "https://a.example/x?y=1"},
		{443, "https://a.example/x?y=1"},
		{8443, "https://a.example:8443/x?y=1"},
	} {
		m.conf.HTTPSPort = c.port
		r, _ := http.NewRequest("GET", "http://a.example:8080/x?y=1", nil)
		if got := m.httpsURL("a.example", r); got != c.want {
			t.Errorf("port %d: %s, want %s", c.port, got, c.want)
		}
	}
	if st := m.Status("Nobody.Example."); st[0].Status != StatusNone || st[0].Host != "nobody.example" {
		t.Fatalf("status of an unmanaged host: %+v", st)
	}
}

func TestRenewalAheadOfExpiry(t *testing.T) {
	renewCheckInterval = 500 * time.Millisecond
	defer func() { renewCheckInterval = 0 }()
	e := startEdge(t)
	p := startPebble(t, e.HTTPPort, e.HTTPSPort, 15*time.Second)
	const host = "renew.pier.test"
	ev := &events{}
	m := newTestManager(t, e, Config{
		StorageDir: t.TempDir(), CA: p.DirectoryURL, CARoot: p.CARoot,
		Allowed: knownHosts(host), OnEvent: ev.add,
	})
	m.Manage(context.Background(), []string{host})
	first := waitStatus(t, m, host, StatusValid)
	resp, _ := httpsGet(t, e, p.Roots, host, "/")
	serial := resp.TLS.PeerCertificates[0].SerialNumber

	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, _ := httpsGet(t, e, p.Roots, host, "/")
		leaf := resp.TLS.PeerCertificates[0]
		if leaf.SerialNumber.Cmp(serial) != 0 {
			if !leaf.NotAfter.After(first.NotAfter) {
				t.Fatalf("renewed certificate expires %v, not after the old %v", leaf.NotAfter, first.NotAfter)
			}
			if time.Now().After(first.NotAfter) {
				t.Fatalf("renewed only after the old certificate expired (%v)", first.NotAfter)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate not renewed within 30s (expires %v); events:\n%s", first.NotAfter, ev)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !ev.has(host, "certificate renewed") {
		t.Fatalf("no 'certificate renewed' event; events:\n%s", ev)
	}
	if st := m.Status(host)[0]; st.Status != StatusValid || !st.NotAfter.After(first.NotAfter) {
		t.Fatalf("status after renewal: %+v", st)
	}
}
