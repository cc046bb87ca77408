package pebbletest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// ChallTestSrv is a running pebble-challtestsrv: a mock DNS server whose
// TXT records (DNS-01 challenges) are set through its management API.
type ChallTestSrv struct {
	// DNSAddr is its DNS server (UDP and TCP), for Pebble's -dnsserver.
	DNSAddr string
	mgmt    string
	client  *http.Client
}

// StartChallTestSrv runs pebble-challtestsrv (Debian's pebble package) with
// DNS only, answering A queries with 127.0.0.1. It skips the test when the
// binary is missing, and fails it when PIER_REQUIRE names pebble.
func StartChallTestSrv(t testing.TB) *ChallTestSrv {
	t.Helper()
	if _, err := exec.LookPath("pebble-challtestsrv"); err != nil {
		requireBinary(t, "pebble") // skips, or fails under PIER_REQUIRE
		t.Fatalf("pebble is installed but pebble-challtestsrv is not: %v", err)
	}
	c := &ChallTestSrv{
		DNSAddr: fmt.Sprintf("127.0.0.1:%d", freeUDPTCPPort(t)),
		mgmt:    fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		client:  &http.Client{Timeout: 5 * time.Second},
	}
	cmd := exec.Command("pebble-challtestsrv", "-dns01", c.DNSAddr, "-management", c.mgmt,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "")
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting pebble-challtestsrv: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("pebble-challtestsrv output:\n%s", log.String())
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if err := c.post("/clear-txt", map[string]string{"host": "ready.invalid."}); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("pebble-challtestsrv did not answer within 10s: %v\n%s", err, log.String())
		}
	}
	return c
}

// SetTXT adds a TXT record for host (a fully qualified name).
func (c *ChallTestSrv) SetTXT(host, value string) error {
	return c.post("/set-txt", map[string]string{"host": dns.Fqdn(host), "value": value})
}

// ClearTXT removes the TXT records of host.
func (c *ChallTestSrv) ClearTXT(host string) error {
	return c.post("/clear-txt", map[string]string{"host": dns.Fqdn(host)})
}

// ReplaceTXT makes host's TXT records the values given, quoted as a DNS
// API takes them ("abc") or not: what a stand-in of a cloud's DNS API
// relays so that Pebble finds what the zone holds.
func (c *ChallTestSrv) ReplaceTXT(host string, values []string) error {
	if err := c.ClearTXT(host); err != nil {
		return err
	}
	for _, v := range values {
		if err := c.SetTXT(host, strings.Trim(v, `"`)); err != nil {
			return err
		}
	}
	return nil
}

// unquoted returns the values at fqdn of a stand-in's zone, without the
// quotes the APIs put around TXT data.
func unquoted(zone map[string][]string, fqdn string) []string {
	var out []string
	for _, v := range zone[dns.Fqdn(strings.ToLower(fqdn))] {
		out = append(out, strings.Trim(v, `"`))
	}
	return out
}

func (c *ChallTestSrv) post(path string, body any) error {
	b, _ := json.Marshal(body)
	resp, err := c.client.Post("http://"+c.mgmt+path, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pebble-challtestsrv %s: %s", path, resp.Status)
	}
	return nil
}

// ZoneFront serves DNS on loopback for a resolver that must find zone's
// start of authority (certmagic's DNS-01 solver looks it up before it sets
// a record), which challtestsrv does not answer: SOA queries under zone get
// zone's SOA, everything else goes on to upstream. It returns the address.
func ZoneFront(t testing.TB, zone, upstream string) string {
	t.Helper()
	zone = dns.Fqdn(strings.ToLower(zone))
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if len(req.Question) == 1 && req.Question[0].Qtype == dns.TypeSOA {
			resp := new(dns.Msg)
			resp.SetReply(req)
			if q := strings.ToLower(req.Question[0].Name); q == zone {
				resp.Answer = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 1},
					Ns: "ns." + zone, Mbox: "hostmaster." + zone, Serial: 1, Refresh: 1, Retry: 1, Expire: 1, Minttl: 1}}
			} else if !dns.IsSubDomain(zone, q) {
				resp.Rcode = dns.RcodeNameError
			}
			_ = w.WriteMsg(resp)
			return
		}
		resp, err := dns.Exchange(req, upstream)
		if err != nil {
			resp = new(dns.Msg)
			resp.SetRcode(req, dns.RcodeServerFailure)
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

// freeUDPTCPPort is a port free for both UDP and TCP on 127.0.0.1.
func freeUDPTCPPort(t testing.TB) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}
