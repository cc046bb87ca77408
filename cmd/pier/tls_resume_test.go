package main

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestTLSSessionsResumeAcrossAnUpgrade: a client that has been served once
// resumes its TLS session (no full handshake) on its next connection, and
// still does after the agent hands over to a new process (SIGHUP), whose
// session ticket keys came from the data dir.
func TestTLSSessionsResumeAcrossAnUpgrade(t *testing.T) {
	needE2E(t)
	e := startEdgeAgentOn(t, freeAddr(t), freeAddr(t), portOfAddr(freeAddr(t)))
	t.Cleanup(func() { e.pier("apps", "destroy", "-a", "tix", "--confirm", "tix") })
	e.mustPier("apps", "create", "tix")
	host := "tix." + edgeDomain
	e.waitCert(t, "tix", host, "valid")

	versions := []struct {
		name  string
		max   uint16
		cache tls.ClientSessionCache
	}{{"TLS 1.3", 0, tls.NewLRUClientSessionCache(8)}, {"TLS 1.2", tls.VersionTLS12, tls.NewLRUClientSessionCache(8)}}
	get := func(name string, max uint16, cache tls.ClientSessionCache) (resumed bool) {
		t.Helper()
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", e.httpsAddr,
			&tls.Config{ServerName: host, RootCAs: e.pebble.Roots, ClientSessionCache: cache, MaxVersion: max, NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatalf("%s: handshake: %v", name, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/", nil)
		if err := req.Write(c); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			t.Fatalf("%s: reading the answer: %v", name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: GET of an app with nothing deployed = %d, want 503", name, resp.StatusCode)
		}
		return c.ConnectionState().DidResume
	}
	for _, v := range versions {
		if get(v.name, v.max, v.cache) {
			t.Errorf("%s: the first connection resumed a session", v.name)
		}
		if !get(v.name, v.max, v.cache) {
			t.Errorf("%s: the second connection did not resume its session", v.name)
		}
	}
	e.reload()
	waitFor(t, time.Minute, "the new agent serving HTTPS", func() bool {
		c, err := tls.Dial("tcp", e.httpsAddr, &tls.Config{ServerName: host, RootCAs: e.pebble.Roots})
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	for _, v := range versions {
		if !get(v.name, v.max, v.cache) {
			t.Errorf("%s: after the agent's upgrade (SIGHUP) the session did not resume", v.name)
		}
	}
	// A client unknown to the agent makes a full handshake: the check above can fail.
	if get("a new client", 0, tls.NewLRUClientSessionCache(8)) {
		t.Error("a client with no session resumed one")
	}
}
