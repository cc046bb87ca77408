package certs

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mholt/acmez/v3"
)

// modernCipherSuites are the TLS 1.2 suites offered: forward secret AEADs
// only. TLS 1.3 suites are not configurable and all modern.
var modernCipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

var errNoSNI = errors.New("no server name in the TLS handshake: pier picks certificates by host name, connect with a host name instead of an IP address")

// storageLoadTimeout bounds the storage read a handshake may do for a host
// whose certificate is not in memory yet.
const storageLoadTimeout = 10 * time.Second

// TLSConfig is the configuration for the HTTPS listener: TLS 1.2 minimum,
// HTTP/2, the TLS-ALPN-01 challenge, and for every other handshake the
// certificate of the requested host, if it is managed or Allowed and has
// one. Anything else fails the handshake with a TLS alert: no host ever
// gets another host's certificate. Session tickets are on, with the keys of
// Config.TicketKeyFile when set.
func (m *Manager) TLSConfig() *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   slices.Clone(modernCipherSuites),
		NextProtos:     []string{"h2", "http/1.1", acmez.ACMETLS1Protocol},
		GetCertificate: m.getCertificate,
	}
	if m.tickets != nil {
		cfg.WrapSession, cfg.UnwrapSession = m.tickets.wrap, m.tickets.unwrap
	}
	return cfg
}

func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if hello.ServerName != "" && slices.Equal(hello.SupportedProtos, []string{acmez.ACMETLS1Protocol}) {
		// A TLS-ALPN-01 validation (RFC 8737: acme-tls/1 alone): certmagic
		// answers only a challenge it has under way.
		return m.magic.GetCertificate(hello)
	}
	host := normalizeHost(hello.ServerName)
	if host == "" {
		return nil, errNoSNI
	}
	ok, onDemand := m.serves(host)
	if !ok {
		return nil, fmt.Errorf("no certificate for %q: pier does not know this host", host)
	}
	if c := m.cachedCert(host); c != nil {
		return c, nil
	}
	if !onDemand {
		return nil, fmt.Errorf("no certificate for %q yet: its wildcard is being obtained, see `pier certs`", host)
	}
	// Not in memory: an earlier run or another edge may have stored one.
	ctx, cancel := context.WithTimeout(hello.Context(), storageLoadTimeout)
	defer cancel()
	defer m.manage(ctx, host, false) // track it: renew what was loaded, or obtain one
	if c, err := m.magic.CacheManagedCertificate(ctx, host); err == nil && !c.Expired() && c.Leaf.VerifyHostname(host) == nil {
		return &c.Certificate, nil
	}
	return nil, fmt.Errorf("no certificate for %q yet: it is being obtained, see `pier certs`", host)
}

// serves reports whether host may get a certificate in a handshake: it is
// managed, or a managed wildcard covers it, or the store knows it, and it
// was not forgotten since. onDemand says whether the handshake may start
// obtaining one for host itself: not when a wildcard covers it.
func (m *Manager) serves(host string) (ok, onDemand bool) {
	m.mu.Lock()
	if m.closed || m.forgotten[host] {
		m.mu.Unlock()
		return false, false
	}
	managed := m.hosts[host] != nil
	wildcard := m.coveringLocked(host) != ""
	m.mu.Unlock()
	switch {
	case managed:
		return true, true
	case wildcard: // never a certificate of its own, even while the wildcard's is pending
		return true, false
	}
	return m.conf.Allowed != nil && m.conf.Allowed(host), true
}

// cachedCert returns the unexpired certificate in memory that covers host.
func (m *Manager) cachedCert(host string) *tls.Certificate {
	var best *tls.Certificate
	for _, c := range m.cache.AllMatchingCertificates(host) {
		if c.Leaf == nil || c.Expired() || c.Leaf.VerifyHostname(host) != nil {
			continue
		}
		if best == nil || c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
			cert := c.Certificate
			best = &cert
		}
	}
	return best
}
