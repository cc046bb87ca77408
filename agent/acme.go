package agent

import (
	"fmt"
	"path/filepath"

	"github.com/pierhq/pier/proxy/certs"
	"github.com/pierhq/pier/proxy/certs/dnsprovider"
)

// newCertManager sets up the certificates of the HTTPS proxy: one per
// host by HTTP-01 or TLS-ALPN-01, and with --acme-dns one wildcard for
// every app host by DNS-01 in the cloud's DNS.
func (a *Agent) newCertManager() (*certs.Manager, error) {
	conf := certs.Config{
		StorageDir:    a.dirs.certs,
		TicketKeyFile: filepath.Join(a.dirs.root, "tls-ticket-keys"),
		CA:            a.cfg.ACMECA,
		CARoot:        a.cfg.ACMECARoot,
		Email:         a.cfg.ACMEEmail,
		Allowed:       a.allowedHost,
		HTTPPort:      portOf(a.cfg.HTTPAddr),
		HTTPSPort:     portOf(a.cfg.HTTPSAddr),
		OnEvent:       a.certEvent,
		Logf:          a.logf,
	}
	if a.cfg.ACMEDNS != "" {
		p, err := dnsprovider.New(a.ctx, dnsprovider.Config{
			Provider: a.cfg.ACMEDNS,
			Zone:     a.cfg.ACMEDNSZone,
			Project:  a.cfg.ACMEDNSProject,
			Endpoint: a.cfg.ACMEDNSEndpoint,
		})
		if err != nil {
			return nil, fmt.Errorf("--acme-dns %s: %w", a.cfg.ACMEDNS, err)
		}
		conf.DNS = p
		conf.DNSResolvers = a.cfg.ACMEDNSResolvers
		conf.DNSPropagationTimeout = a.cfg.ACMEDNSPropagationTimeout
	}
	return certs.New(conf)
}
