package main

import (
	"crypto/tls"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/proxy/certs/pebbletest"
)

const dns01Zone, dns01Domain, dns01Wildcard = "pier.test", "apps.pier.test", "*.apps.pier.test"

// TestEdgeDNS01Route53 is a wildcard certificate end to end: a real agent
// with --acme-dns route53 obtains *.apps.pier.test from Pebble by DNS-01,
// and serves it for two apps and the control host. Route 53 is a
// stand-in (pebbletest.Route53: its REST-XML API on 127.0.0.1, since the
// cloud cannot be reached from here) that the agent's real aws-sdk-go-v2
// client reaches through --acme-dns-endpoint with credentials from the
// SDK's default chain; it relays the TXT records into
// pebble-challtestsrv, where Pebble looks them up.
func TestEdgeDNS01Route53(t *testing.T) {
	needE2E(t)
	cts := pebbletest.StartChallTestSrv(t)
	r53 := pebbletest.StartRoute53(t, dns01Zone, cts)
	e := startDNS01Agent(t, cts, []string{
		"PIER_ACME_DNS=route53",
		"PIER_ACME_DNS_ZONE=" + dns01Zone, // found by name: the stand-in also has a private zone of that name
		"PIER_ACME_DNS_ENDPOINT=" + r53.URL,
		// The SDK's default chain: the environment here, the instance
		// profile on EC2.
		"AWS_ACCESS_KEY_ID=AKIDPIEREDGE",
		"AWS_SECRET_ACCESS_KEY=not-a-real-secret",
		"AWS_CONFIG_FILE=/nonexistent",
		"AWS_SHARED_CREDENTIALS_FILE=/nonexistent",
		"AWS_EC2_METADATA_DISABLED=true",
	})
	checkWildcardServed(t, e)
	calls := r53.Calls()
	for _, op := range []string{"ListHostedZonesByName", "ChangeResourceRecordSets", "GetChange"} {
		if !slices.Contains(calls, op) {
			t.Errorf("the agent never called %s: %v", op, calls)
		}
	}
	if keys := r53.AccessKeys(); !slices.Equal(keys, []string{"AKIDPIEREDGE"}) {
		t.Errorf("Route 53 requests were signed by %v", keys)
	}
	// The challenge record is gone once the certificate is had.
	waitFor(t, 30*time.Second, "the challenge record removed", func() bool { return len(r53.TXT("_acme-challenge."+dns01Domain)) == 0 })
	if strings.Contains(e.logs(), "not-a-real-secret") {
		t.Error("the agent logged the AWS secret key")
	}
}

// TestEdgeDNS01GCloud is TestEdgeDNS01Route53 with --acme-dns gcloud: a
// stand-in of Cloud DNS's API (pebbletest.CloudDNS) that the agent's real
// google.golang.org/api client reaches through --acme-dns-endpoint, with
// application default credentials from a service account key whose tokens
// the stand-in issues.
func TestEdgeDNS01GCloud(t *testing.T) {
	needE2E(t)
	cts := pebbletest.StartChallTestSrv(t)
	cdns := pebbletest.StartCloudDNS(t, "pier-test", "pier-test-zone", dns01Zone, cts)
	e := startDNS01Agent(t, cts, []string{
		"PIER_ACME_DNS=gcloud",
		"PIER_ACME_DNS_ZONE=" + cdns.ZoneName,
		"PIER_ACME_DNS_PROJECT=" + cdns.Project,
		"PIER_ACME_DNS_ENDPOINT=" + cdns.URL,
		"GOOGLE_APPLICATION_CREDENTIALS=" + cdns.CredentialsFile, // the VM's service account on GCP
	})
	checkWildcardServed(t, e)
	calls := cdns.Calls()
	for _, op := range []string{"changes.create", "changes.get"} {
		if !slices.Contains(calls, op) {
			t.Errorf("the agent never called %s: %v", op, calls)
		}
	}
	if !cdns.Authorized() {
		t.Error("Cloud DNS requests did not carry the service account's credentials")
	}
	waitFor(t, 30*time.Second, "the challenge record removed", func() bool { return len(cdns.TXT("_acme-challenge."+dns01Domain)) == 0 })
}

// startDNS01Agent starts Pebble, looking names and DNS-01 records up in
// cts, and an agent on apps.pier.test with HTTPS and the DNS settings
// given; two apps are pushed to it.
func startDNS01Agent(t *testing.T, cts *pebbletest.ChallTestSrv, dnsEnv []string) *edgeAgent {
	t.Helper()
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	p := startPebbleWithDNS(t, portOfAddr(httpAddr), portOfAddr(httpsAddr), cts.DNSAddr)
	a := startAgent(t, agentOpts{extra: append([]string{
		"PIER_HTTP_ADDR=" + httpAddr,
		"PIER_HTTPS_ADDR=" + httpsAddr,
		"PIER_DOMAIN=" + dns01Domain,
		"PIER_ACME_CA=" + p.DirectoryURL,
		"PIER_ACME_CA_ROOT=" + p.CARoot,
		"PIER_ACME_DNS_RESOLVERS=" + pebbletest.ZoneFront(t, dns01Zone, cts.DNSAddr),
		"PIER_ACME_DNS_PROPAGATION_TIMEOUT=-1s", // challtestsrv has no name servers of the zone to ask
	}, dnsEnv...)})
	a.httpAddr = httpAddr
	e := &edgeAgent{agentProc: a, httpsAddr: httpsAddr, pebble: p}
	t.Cleanup(func() {
		for _, app := range dns01Apps {
			e.pier("apps", "destroy", "-a", app, "--confirm", app)
		}
	})
	repo := newPrebuiltRepo(t, "hello") // no compiler: the time goes to the certificate
	for _, app := range dns01Apps {
		e.mustPier("apps", "create", app)
		repo.remote(e.agentProc, app, e.token)
		mustPush(t, repo, "Released v1")
	}
	return e
}

var dns01Apps = []string{"shop", "blog"}

// checkWildcardServed: pier certs shows each app's host served by the
// wildcard, valid, from Pebble by dns-01; HTTPS verified against Pebble's
// root reaches each app and the control host, with the wildcard's
// certificate alone.
func checkWildcardServed(t *testing.T, e *edgeAgent) {
	t.Helper()
	https := e.httpsClient() // trusts Pebble's root only, checks the name
	for _, app := range dns01Apps {
		host := app + "." + dns01Domain
		c := e.waitCert(t, app, host, "valid")
		if c.Challenge != "dns-01" || c.Wildcard != dns01Wildcard || !strings.Contains(c.Issuer, "Pebble") || time.Until(c.NotAfter) < 24*time.Hour {
			t.Errorf("pier certs for %s: %+v, want the wildcard's valid certificate from Pebble by dns-01", host, c)
		}
		ans, err := fetch(https, e.httpsURL(host, "/"))
		if err != nil || ans.code != 200 || !strings.Contains(ans.body, "hello from "+app+" v1") {
			t.Errorf("HTTPS GET %s = %d %q (%v), want the app over a verified connection", host, ans.code, ans.body, err)
		}
		if names, err := e.verifiedNames(host); err != nil || !slices.Equal(names, []string{dns01Wildcard}) {
			t.Errorf("%s was served a certificate for %v (%v), want one for %s alone", host, names, err, dns01Wildcard)
		}
	}
	if out := e.mustPier("certs", "-a", "shop"); !strings.Contains(out, "dns-01 "+dns01Wildcard) || !strings.Contains(out, "valid") {
		t.Errorf("pier certs table:\n%s", out)
	}
	if names, err := e.verifiedNames("pier." + dns01Domain); err != nil || !slices.Equal(names, []string{dns01Wildcard}) {
		t.Errorf("the control host was served %v (%v)", names, err)
	}
}

// verifiedNames opens a TLS connection for host, verified against Pebble's
// root, and returns the names on the certificate.
func (e *edgeAgent) verifiedNames(host string) ([]string, error) {
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.httpsAddr, &tls.Config{ServerName: host, RootCAs: e.pebble.Roots})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].DNSNames, nil
}
