package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// testCA is a certificate authority made for a test, with one server
// certificate for 127.0.0.1 and localhost.
type testCA struct{ caFile, certFile, keyFile string }

func newTestCA(t *testing.T, dir string) testCA {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pier test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(err)
	c := testCA{filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")}
	must(os.WriteFile(c.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644))
	must(os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}), 0o644))
	must(os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return c
}

// rsyslog is a real rsyslogd on a loopback port, writing what it receives
// as "HOSTNAME APP-NAME PROCID MSG" lines to a file.
type rsyslog struct {
	addr, out string
	cmd       *exec.Cmd
}

// startRsyslog starts rsyslogd in the foreground; with ca it listens with
// TLS, presenting ca's server certificate.
func startRsyslog(t *testing.T, ca *testCA) *rsyslog {
	t.Helper()
	bin := requireBinary(t, "rsyslogd")
	dir := t.TempDir()
	r := &rsyslog{addr: freeAddr(t), out: filepath.Join(dir, "out.log")}
	_, port, _ := net.SplitHostPort(r.addr)
	var conf strings.Builder
	fmt.Fprintf(&conf, "global(workDirectory=%q", dir)
	if ca != nil {
		fmt.Fprintf(&conf, " defaultNetstreamDriverCAFile=%q defaultNetstreamDriverCertFile=%q defaultNetstreamDriverKeyFile=%q", ca.caFile, ca.certFile, ca.keyFile)
	}
	conf.WriteString(")\n")
	if ca != nil {
		conf.WriteString(`module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")` + "\n")
	} else {
		conf.WriteString(`module(load="imtcp")` + "\n")
	}
	fmt.Fprintf(&conf, "input(type=\"imtcp\" address=\"127.0.0.1\" port=%q)\n", port)
	conf.WriteString(`template(name="drain" type="string" string="%hostname% %app-name% %procid% %msg%\n")` + "\n")
	fmt.Fprintf(&conf, "*.* action(type=\"omfile\" file=%q template=\"drain\")\n", r.out)
	confFile := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r.cmd = exec.Command(bin, "-n", "-f", confFile, "-i", filepath.Join(dir, "rsyslog.pid"))
	var logs strings.Builder
	r.cmd.Stdout, r.cmd.Stderr = &logs, &logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.kill)
	waitFor(t, 10*time.Second, "rsyslogd to listen on "+r.addr, func() bool {
		c, err := net.DialTimeout("tcp", r.addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return r
}

// kill ends rsyslogd with SIGKILL, as a crash would.
func (r *rsyslog) kill() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
		r.cmd = nil
	}
}

func (r *rsyslog) received() string {
	b, _ := os.ReadFile(r.out)
	return string(b)
}

// TestDrainsToRsyslog: a real rsyslog receives an app's process, router
// and platform lines over TCP and over TLS in RFC 5424 (octet-counted),
// with the app as APP-NAME and the line's source as PROCID. A TLS drain
// whose certificate is not trusted records an error and sends nothing.
func TestDrainsToRsyslog(t *testing.T) {
	needE2E(t)
	ca := newTestCA(t, t.TempDir())
	plain, secure := startRsyslog(t, nil), startRsyslog(t, &ca)
	other := newTestCA(t, t.TempDir()) // not trusted by the agent
	untrusted := startRsyslog(t, &other)
	a := startAgent(t, agentOpts{extra: []string{"PIER_DRAIN_CA_FILE=" + ca.caFile, allowPrivateTargets}})
	const app = "drained"
	a.mustPier("apps", "create", app)
	// Private and link-local targets: TestPrivateTargetsRefused.
	for raw, want := range map[string]string{
		"tcp://" + plain.addr:                   "syslog://HOST:PORT",
		"syslog://127.0.0.1":                    "syslog://HOST:PORT",
		"syslog://" + a.apiAddr:                 "pier's own API",
		"syslog://" + plain.addr + "/some/path": "a host and a port",
	} {
		if r := a.pier("drains", "add", "-a", app, raw); r.code == 0 || !strings.Contains(r.stderr, want) {
			t.Errorf("drains add %s: exit %d, %q; want an error saying %q", raw, r.code, r.stderr, want)
		}
	}
	a.mustPier("drains", "add", "-a", app, "syslog://"+plain.addr)
	a.mustPier("drains", "add", "-a", app, "syslog+tls://"+secure.addr)
	_, badPort, _ := net.SplitHostPort(untrusted.addr)
	a.mustPier("drains", "add", "-a", app, "syslog+tls://localhost:"+badPort)

	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	for range 3 {
		if code, _, _ := a.get(app, "/drain-me"); code != 200 {
			t.Fatalf("GET /drain-me = %d", code)
		}
	}
	for name, r := range map[string]*rsyslog{"plain": plain, "TLS": secure} {
		waitFor(t, 20*time.Second, "the "+name+" rsyslog to receive the app's, router's and pier's lines", func() bool {
			got := r.received()
			return strings.Contains(got, " "+app+" web.1 ") && strings.Contains(got, "listening on") &&
				strings.Contains(got, " "+app+" router ") && strings.Contains(got, `path="/drain-me"`) &&
				strings.Contains(got, " "+app+" pier ")
		})
	}
	for _, l := range strings.Split(secure.received(), "\n") {
		if strings.Contains(l, "web.1") || strings.Contains(l, "/drain-me") {
			t.Logf("the TLS rsyslog received: %s", l)
		}
	}
	var ds []api.Drain
	a.pierJSON(&ds, "drains", "list", "-a", app)
	if len(ds) != 3 {
		t.Fatalf("drains list: %+v", ds)
	}
	for _, d := range ds {
		if strings.HasSuffix(d.URL, ":"+badPort) {
			if d.Sent != 0 || !strings.Contains(d.LastError, "certificate") {
				t.Errorf("the drain with an untrusted certificate: sent %d, last error %q", d.Sent, d.LastError)
			}
		} else if d.Sent == 0 || d.LastError != "" {
			t.Errorf("drain %s sent %d lines, last error %q", d.URL, d.Sent, d.LastError)
		}
	}
	if got := untrusted.received(); got != "" {
		t.Errorf("the rsyslog the agent must not trust received:\n%s", got)
	}
	a.mustPier("drains", "remove", "-a", app, ds[0].ID)
	if a.pierJSON(&ds, "drains", "list", "-a", app); len(ds) != 2 {
		t.Errorf("after remove: %+v", ds)
	}
}

// TestDeadDrainDoesNotSlowTheApp: the drain dies mid-stream; the app keeps
// answering as fast, the drain counts what it dropped and an event says so.
func TestDeadDrainDoesNotSlowTheApp(t *testing.T) {
	needE2E(t)
	r := startRsyslog(t, nil)
	a := startAgent(t, agentOpts{extra: []string{allowPrivateTargets}})
	const app = "deaddrain"
	a.mustPier("apps", "create", app)
	a.mustPier("drains", "add", "-a", app, "syslog://"+r.addr)
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	client := &http.Client{Timeout: 10 * time.Second}
	timed := func(n int) []time.Duration {
		var ds []time.Duration
		for range n {
			req, _ := http.NewRequest("GET", "http://"+a.httpAddr+"/", nil)
			req.Host = app + ".localhost"
			start := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				t.Fatalf("GET /: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("GET / = %d", resp.StatusCode)
			}
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds
	}
	before := timed(200)
	waitFor(t, 10*time.Second, "the drain to carry the router lines", func() bool { return strings.Contains(r.received(), " router ") })
	r.kill()
	after := timed(400)
	p50b, p50a := before[len(before)/2], after[len(after)/2]
	maxA := after[len(after)-1]
	t.Logf("GET / with the drain up: p50 %v, max %v; with it dead: p50 %v, max %v", p50b, before[len(before)-1], p50a, maxA)
	if p50a > 3*p50b+20*time.Millisecond || maxA > time.Second {
		t.Errorf("the dead drain slowed the app: p50 %v -> %v, max %v", p50b, p50a, maxA)
	}
	var ds []api.Drain
	waitFor(t, 30*time.Second, "the drain to count dropped lines", func() bool {
		a.pierJSON(&ds, "drains", "list", "-a", app)
		return len(ds) == 1 && ds[0].Dropped > 0 && ds[0].LastError != ""
	})
	waitFor(t, 30*time.Second, "a drain.dropped event", func() bool {
		var evs []api.Event
		a.pierJSON(&evs, "events", "-a", app)
		for _, e := range evs {
			if e.Type == api.EventDrainDropped && e.Data["drain"] == ds[0].ID {
				return true
			}
		}
		return false
	})
	if a.metric(`pier_drain_dropped_lines_total{app="`+app+`",drain="`+ds[0].ID+`"}`) <= 0 {
		t.Error("pier_drain_dropped_lines_total did not count the dropped lines")
	}
}
