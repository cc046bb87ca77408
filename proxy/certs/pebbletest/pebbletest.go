// Package pebbletest runs Pebble, the ACME test server, for tests: with a
// mock DNS server that sends every name to 127.0.0.1, its own API
// certificate, and its issuing root fetched for verifying what is served.
// Only tests import it.
package pebbletest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// requireBinary returns the path of an external program, skipping the test
// when it is missing, or failing it when PIER_REQUIRE names the program.
func requireBinary(t testing.TB, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	for _, req := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(req) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but not installed: apt-get install -y pebble", name)
		}
	}
	t.Skipf("%s not installed (apt-get install -y pebble); skipping the ACME tests", name)
	return ""
}

// UnreachablePrefix marks test host names the mock DNS resolves to an
// address where nothing listens, so that validating them fails.
const UnreachablePrefix = "unreachable."

// startDNS serves A records for every name: 127.0.0.1, or 127.0.0.2 for
// names starting with unreachablePrefix. It returns the address.
func startDNS(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		for _, q := range req.Question {
			if q.Qtype != dns.TypeA {
				continue // no AAAA, CAA, ...: an empty answer
			}
			ip := net.IPv4(127, 0, 0, 1)
			if strings.HasPrefix(strings.ToLower(q.Name), UnreachablePrefix) {
				ip = net.IPv4(127, 0, 0, 2)
			}
			resp.Answer = append(resp.Answer, &dns.A{
				Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1},
				A:   ip,
			})
		}
		_ = w.WriteMsg(resp)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// writeSelfSigned writes a self-signed CA certificate for 127.0.0.1 and
// localhost (Pebble's own HTTPS) and returns the cert and key paths.
func writeSelfSigned(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "pebble test listener"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "pebble-cert.pem"), filepath.Join(dir, "pebble-key.pem")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// Server is a running Pebble ACME server.
type Server struct {
	DirectoryURL string
	CARoot       string         // PEM file trusted to talk to Pebble's API
	Roots        *x509.CertPool // Pebble's issuing root, to verify served certificates
	cmd          *exec.Cmd
	done         chan struct{}
	log          *syncBuffer
}

// Start runs Pebble validating HTTP-01 on httpPort and TLS-ALPN-01 on
// tlsPort of whatever the mock DNS resolves names to (127.0.0.1, or
// 127.0.0.2 for names starting with UnreachablePrefix). A validity of 0 is
// Pebble's default (years). It skips the test when pebble is not
// installed, and fails it when PIER_REQUIRE names pebble.
func Start(t testing.TB, httpPort, tlsPort int, validity time.Duration) *Server {
	t.Helper()
	requireBinary(t, "pebble")
	return StartWithDNS(t, httpPort, tlsPort, validity, startDNS(t))
}

// StartWithDNS is Start with Pebble resolving names (and looking up DNS-01
// TXT records) at dnsServer, e.g. a ChallTestSrv's DNSAddr.
func StartWithDNS(t testing.TB, httpPort, tlsPort int, validity time.Duration, dnsServer string) *Server {
	t.Helper()
	bin := requireBinary(t, "pebble")
	dir := t.TempDir()
	certFile, keyFile := writeSelfSigned(t, dir)
	apiAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	mgmtAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	settings := map[string]any{
		"listenAddress":           apiAddr,
		"managementListenAddress": mgmtAddr,
		"certificate":             certFile,
		"privateKey":              keyFile,
		"httpPort":                httpPort,
		"tlsPort":                 tlsPort,
		"ocspResponderURL":        "",
	}
	if validity > 0 {
		settings["certificateValidityPeriod"] = int(validity.Seconds())
	}
	conf, _ := json.Marshal(map[string]any{"pebble": settings})
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &Server{
		DirectoryURL: "https://" + apiAddr + "/dir",
		CARoot:       certFile,
		done:         make(chan struct{}),
		log:          &syncBuffer{},
	}
	p.cmd = exec.Command(bin, "-config", confFile, "-dnsserver", dnsServer)
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting pebble: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("pebble output:\n%s", p.log.String())
		}
	})
	p.Roots = p.waitForRoot(t, certFile, mgmtAddr)
	return p
}

// waitForRoot polls the management API until Pebble answers with its
// issuing root.
func (p *Server) waitForRoot(t testing.TB, apiCert, mgmtAddr string) *x509.CertPool {
	t.Helper()
	pemBytes, err := os.ReadFile(apiCert)
	if err != nil {
		t.Fatal(err)
	}
	apiRoots := x509.NewCertPool()
	apiRoots.AppendCertsFromPEM(pemBytes)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: apiRoots}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("pebble exited:\n%s", p.log.String())
		default:
		}
		resp, err := client.Get("https://" + mgmtAddr + "/roots/0")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pool := x509.NewCertPool()
			if resp.StatusCode == http.StatusOK && pool.AppendCertsFromPEM(body) {
				return pool
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not serve its root within 15s (last error: %v):\n%s", err, p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Log is what Pebble has printed so far.
func (p *Server) Log() string { return p.log.String() }

// Stop ends Pebble; the ACME server is unreachable afterwards.
func (p *Server) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
