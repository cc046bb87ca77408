package certs

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/libdns/libdns"

	"github.com/pierhq/pier/proxy/certs/pebbletest"
)

// challtestsrvDNS is a test-only libdns provider: it sets and clears TXT
// records through pebble-challtestsrv's management API, as a user's
// provider (Route53, Cloud DNS) sets them in the real zone. The DNS APIs
// of the clouds cannot be reached here.
type challtestsrvDNS struct {
	srv *pebbletest.ChallTestSrv
}

func (p challtestsrvDNS) AppendRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		rr := r.RR()
		if err := p.srv.SetTXT(libdns.AbsoluteName(rr.Name, zone), rr.Data); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func (p challtestsrvDNS) DeleteRecords(_ context.Context, zone string, recs []libdns.Record) ([]libdns.Record, error) {
	for _, r := range recs {
		if err := p.srv.ClearTXT(libdns.AbsoluteName(r.RR().Name, zone)); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// TestDNS01Wildcard: with a DNS provider, one wildcard certificate is
// obtained from Pebble by DNS-01 (the TXT record set through the
// provider, looked up by Pebble in challtestsrv's DNS) and served, valid,
// for two apps under it; Status says it came by DNS-01. Without a
// provider a wildcard name fails, saying what it needs, and a handshake
// for a host under it does not start a certificate of that host's own.
func TestDNS01Wildcard(t *testing.T) {
	const zone, wildcard = "pier.test", "*.apps.pier.test"
	cts := pebbletest.StartChallTestSrv(t)
	e := startEdge(t)
	p := pebbletest.StartWithDNS(t, e.HTTPPort, e.HTTPSPort, 0, cts.DNSAddr)
	ev := &events{}
	m := newTestManager(t, e, Config{
		StorageDir: filepath.Join(t.TempDir(), "certs"), CA: p.DirectoryURL, CARoot: p.CARoot,
		OnEvent: ev.add,
		// The HTTP-based challenges would answer for the apps' own names;
		// a wildcard can only be had by DNS-01.
		DisableHTTPChallenge: true, DisableTLSALPNChallenge: true,
		DNS:                   challtestsrvDNS{cts},
		DNSResolvers:          []string{pebbletest.ZoneFront(t, zone, cts.DNSAddr)},
		DNSPropagationTimeout: -1, // challtestsrv has no name servers to ask
	})
	wantAlert(t, e, "shop.apps.pier.test") // nothing managed yet

	m.Manage(context.Background(), []string{wildcard})
	st := waitStatus(t, m, wildcard, StatusValid)
	if st.Challenge != ChallengeDNS01 || !strings.Contains(st.Issuer, "Pebble") {
		t.Errorf("wildcard status: %+v", st)
	}
	for _, host := range []string{"shop.apps.pier.test", "blog.apps.pier.test"} {
		resp, body := httpsGet(t, e, p.Roots, host, "/") // verifies the chain and the name
		if resp.StatusCode != 200 || body != backendBody {
			t.Errorf("https://%s/: %d %q", host, resp.StatusCode, body)
		}
		if leaf := resp.TLS.PeerCertificates[0]; !slices.Equal(leaf.DNSNames, []string{wildcard}) {
			t.Errorf("%s was served a certificate for %v, want the wildcard's", host, leaf.DNSNames)
		}
	}
	// A wildcard covers one label only.
	wantAlert(t, e, "deep.shop.apps.pier.test")
	// A host under it reports the wildcard's certificate, and managing it
	// obtains nothing of its own; forgotten, it is not served.
	m.Manage(context.Background(), []string{"shop.apps.pier.test"})
	if st := m.Status("shop.apps.pier.test")[0]; st.Status != StatusValid || st.Wildcard != wildcard || st.Challenge != ChallengeDNS01 {
		t.Errorf("a host under the wildcard: %+v", st)
	}
	if all := m.Status(); len(all) != 1 || all[0].Host != wildcard {
		t.Errorf("managing a host under the wildcard made it managed itself: %+v", all)
	}
	m.Forget("blog.apps.pier.test")
	wantAlert(t, e, "blog.apps.pier.test")
	if st := m.Status("blog.apps.pier.test")[0]; st.Status != StatusNone {
		t.Errorf("a forgotten host under the wildcard: %+v", st)
	}
	m.Manage(context.Background(), []string{"blog.apps.pier.test"}) // an app of that name again
	if st := m.Status("blog.apps.pier.test")[0]; st.Status != StatusValid {
		t.Errorf("a host under the wildcard managed again: %+v", st)
	}
	if !ev.has(wildcard, "certificate obtained") {
		t.Errorf("no event for the wildcard:\n%s", ev)
	}

	// No provider: the wildcard fails with what to do, and nothing is served.
	e2 := startEdge(t)
	m2 := newTestManager(t, e2, Config{StorageDir: filepath.Join(t.TempDir(), "certs"), CA: p.DirectoryURL, CARoot: p.CARoot})
	m2.Manage(context.Background(), []string{wildcard})
	st = waitStatus(t, m2, wildcard, StatusFailing)
	if !strings.Contains(st.LastError, "needs the DNS-01 challenge") || st.Challenge != ChallengeDNS01 {
		t.Errorf("a wildcard without a provider: %+v", st)
	}
	wantAlert(t, e2, "shop.apps.pier.test")
	// A host only the wildcard covers does not start a certificate of its own.
	if all := m2.Status(); len(all) != 1 || all[0].Host != wildcard {
		t.Errorf("a handshake for a host under a failing wildcard made it managed: %+v", all)
	}
}
