package main

import (
	"strconv"
	"testing"

	"github.com/pierhq/pier/proxy/certs/pebbletest"
)

// unreachablePrefix marks host names the test DNS resolves to 127.0.0.2,
// where nothing listens, so that validating them fails. Only Pebble asks
// that DNS; the agent is told nothing about it.
const unreachablePrefix = pebbletest.UnreachablePrefix

// startPebble runs Pebble validating HTTP-01 on httpPort and TLS-ALPN-01 on
// tlsPort of 127.0.0.1.
func startPebble(t *testing.T, httpPort, tlsPort string) *pebbletest.Server {
	t.Helper()
	hp, tp := pebblePorts(t, httpPort, tlsPort)
	return pebbletest.Start(t, hp, tp, 0)
}

// startPebbleWithDNS is startPebble with Pebble resolving names, and
// looking up DNS-01 records, at dnsAddr (a pebble-challtestsrv's).
func startPebbleWithDNS(t *testing.T, httpPort, tlsPort, dnsAddr string) *pebbletest.Server {
	t.Helper()
	hp, tp := pebblePorts(t, httpPort, tlsPort)
	return pebbletest.StartWithDNS(t, hp, tp, 0, dnsAddr)
}

func pebblePorts(t *testing.T, httpPort, tlsPort string) (int, int) {
	t.Helper()
	hp, err1 := strconv.Atoi(httpPort)
	tp, err2 := strconv.Atoi(tlsPort)
	if err1 != nil || err2 != nil {
		t.Fatalf("ports %q and %q", httpPort, tlsPort)
	}
	return hp, tp
}
