package main

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

// unreachablePrefix marks host names the test DNS resolves to 127.0.0.2,
// where nothing listens, so that validating them fails.
const unreachablePrefix = "unreachable."

// startDNS serves an A record for every name: 127.0.0.1, or 127.0.0.2 for
// names starting with unreachablePrefix. Only Pebble asks it; the agent is
// told nothing about DNS.
func startDNS(t *testing.T) string {
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
				continue
			}
			ip := net.IPv4(127, 0, 0, 1)
			if strings.HasPrefix(strings.ToLower(q.Name), unreachablePrefix) {
				ip = net.IPv4(127, 0, 0, 2)
			}
			resp.Answer = append(resp.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip})
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

// pebbleProc is a running Pebble ACME server.
type pebbleProc struct {
	dirURL  string
	apiRoot string         // PEM file of the root of Pebble's own API certificate
	roots   *x509.CertPool // Pebble's issuing root: verifies what pier serves
	cmd     *exec.Cmd
	done    chan struct{}
	log     *lockedBuffer
}

// startPebble runs Pebble validating HTTP-01 on httpPort and TLS-ALPN-01 on
// tlsPort of 127.0.0.1.
func startPebble(t *testing.T, httpPort, tlsPort string) *pebbleProc {
	t.Helper()
	bin := requireBinary(t, "pebble")
	dir := t.TempDir()
	certFile, keyFile := writeListenerCert(t, dir)
	apiAddr, mgmtAddr := freeAddr(t), freeAddr(t)
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress": apiAddr, "managementListenAddress": mgmtAddr,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": atoi(t, httpPort), "tlsPort": atoi(t, tlsPort), "ocspResponderURL": "",
	}})
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pebbleProc{dirURL: "https://" + apiAddr + "/dir", apiRoot: certFile, done: make(chan struct{}), log: &lockedBuffer{}}
	p.cmd = exec.Command(bin, "-config", confFile, "-dnsserver", startDNS(t))
	p.cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting pebble: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("pebble output:\n%s", p.log.String())
		}
	})
	p.roots = p.issuingRoot(t, mgmtAddr)
	return p
}

// issuingRoot polls Pebble's management API for the root it issues under.
func (p *pebbleProc) issuingRoot(t *testing.T, mgmtAddr string) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(p.apiRoot)
	if err != nil {
		t.Fatal(err)
	}
	apiRoots := x509.NewCertPool()
	apiRoots.AppendCertsFromPEM(b)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: apiRoots}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("pebble exited:\n%s", p.log.String())
		default:
		}
		if resp, err := client.Get("https://" + mgmtAddr + "/roots/0"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pool := x509.NewCertPool()
			if resp.StatusCode == http.StatusOK && pool.AppendCertsFromPEM(body) {
				return pool
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("pebble did not serve its root within 15s:\n%s", p.log.String())
	return nil
}

// stop ends Pebble: no ACME server is reachable afterwards.
func (p *pebbleProc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// writeListenerCert writes a self-signed certificate for Pebble's own
// HTTPS API on 127.0.0.1 and returns the cert and key files.
func writeListenerCert(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebble test API"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "api-cert.pem"), filepath.Join(dir, "api-key.pem")
	for _, f := range []struct {
		path, typ string
		der       []byte
	}{{certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", keyDER}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
