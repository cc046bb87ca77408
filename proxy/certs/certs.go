// Package certs makes HTTPS automatic for pier's edge: it obtains, stores,
// serves and renews certificates from an ACME server with certmagic, and
// reports for every host what state its certificate is in.
//
// certmagic is used as Caddy uses it: one certmagic.Cache and one Config for
// every name, the HTTP-01 handler on the plain listener, the TLS-ALPN-01
// answer on the HTTPS listener, and on-demand loading or issuance only for
// hosts that Config.Allowed says the store knows. A host without a
// certificate gets a TLS alert, never another host's certificate.
package certs

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// Config says where certificates come from and where they are kept.
type Config struct {
	// StorageDir holds certificates, their keys and the ACME account key
	// (usually <data-dir>/certs). Ignored when Storage is set.
	StorageDir string
	// Storage replaces the file storage in StorageDir, e.g. to share
	// certificates and locks between several edge proxies.
	Storage certmagic.Storage

	// TicketKeyFile keeps the TLS session ticket keys (tickets.go), so
	// that sessions resume across a restart or an upgrade of the agent;
	// "" leaves them to Go, in memory.
	TicketKeyFile string

	// CA is the ACME directory URL; "" means Let's Encrypt production.
	CA string
	// CARoot is a PEM file with the root that signs the ACME server's own
	// HTTPS certificate, trusted in addition to the system roots (Pebble's
	// or a private CA's).
	CARoot string
	// Email is given to the ACME server for expiry notices; may be empty.
	Email string

	// Allowed reports whether the store knows host; only such hosts get
	// certificates on demand (a TLS handshake for a host not yet managed).
	// nil allows only hosts passed to Manage.
	Allowed func(host string) bool
	// OnEvent receives one line per certificate event for a host, e.g.
	// "certificate obtained" or "obtaining certificate failed: ...". It is
	// called synchronously from certmagic: return quickly.
	OnEvent func(host, message string)
	// Logf receives certmagic's warnings and errors; nil discards them.
	Logf func(format string, args ...any)

	// HTTPPort is the port of the plain listener (0 means 80) and
	// HTTPSPort the port of the HTTPS listener (0 means 443). The ACME
	// server always validates on 80 and 443; when pier listens elsewhere
	// those ports must be forwarded to it. HTTPSPort also goes into
	// redirects unless it is 443.
	HTTPPort, HTTPSPort int

	// DisableHTTPChallenge and DisableTLSALPNChallenge turn off one of the
	// two challenge types (both are on by default).
	DisableHTTPChallenge, DisableTLSALPNChallenge bool

	// DNS, when set, obtains wildcard names ("*.apps.example.com": one
	// certificate for every app) by the DNS-01 challenge, setting the TXT
	// records through this libdns provider. Other names keep HTTP-01 and
	// TLS-ALPN-01. Without it a wildcard name cannot be had.
	DNS certmagic.DNSProvider
	// DNSResolvers are the DNS servers ("host:port") asked for the zone of
	// a name and for the records' propagation; empty uses the system's.
	DNSResolvers []string
	// DNSPropagationTimeout bounds the wait for a TXT record to be visible
	// at the zone's name servers before the CA is asked to look (0:
	// certmagic's default, 2 minutes; negative: do not wait).
	DNSPropagationTimeout time.Duration
}

// ChallengeDNS01 and ChallengeHTTP name how a host's certificate is had.
const (
	ChallengeDNS01 = "dns-01"
	ChallengeHTTP  = "http-01"
)

// IsWildcard reports whether host is a wildcard name (*.example.com).
func IsWildcard(host string) bool { return strings.HasPrefix(host, "*.") }

// Status is what pier knows about one host's certificate.
type Status struct {
	Host string `json:"host"`
	// Status is "valid" (a certificate is being served), "pending" (being
	// obtained), "failing" (the last attempt failed; see LastError and
	// NextRetry) or "none" (the host is not managed).
	Status string `json:"status"`
	// Challenge is how the certificate is had: ChallengeDNS01 for a
	// wildcard name, ChallengeHTTP (HTTP-01 or TLS-ALPN-01) otherwise.
	Challenge string `json:"challenge,omitempty"`
	// Wildcard is the managed wildcard name whose certificate serves Host
	// ("*.apps.example.com" for "shop.apps.example.com"); the status is
	// that certificate's.
	Wildcard  string    `json:"wildcard,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	NextRetry time.Time `json:"next_retry,omitzero"`
}

// Status values.
const (
	StatusValid   = "valid"
	StatusPending = "pending"
	StatusFailing = "failing"
	StatusNone    = "none"
)

// Manager obtains, serves and renews the certificates of pier's hosts.
type Manager struct {
	conf   Config
	cache  *certmagic.Cache
	magic  *certmagic.Config
	issuer *certmagic.ACMEIssuer
	// dnsMagic obtains wildcard names by DNS-01 (nil without Config.DNS);
	// it shares the cache and the storage with magic.
	dnsMagic *certmagic.Config
	tickets  *ticketKeys // nil: Go's own session ticket keys

	ctx    context.Context // canceled by Close; parent of every host's context
	cancel context.CancelFunc

	redirectMemo redirectMemo

	mu        sync.Mutex
	hosts     map[string]*hostState
	forgotten map[string]bool // removed with Forget and not managed again since
	closed    bool
}

// renewCheckInterval is how often certificates are checked for renewal;
// 0 is certmagic's default (10 minutes). Tests shorten it.
var renewCheckInterval time.Duration

// New prepares a Manager; it contacts the ACME server only once a host is
// managed. Call Close when done.
func New(cfg Config) (*Manager, error) {
	storage := cfg.Storage
	if storage == nil {
		if cfg.StorageDir == "" {
			return nil, errors.New("certificate storage: set a storage directory (e.g. <data-dir>/certs)")
		}
		dir, err := filepath.Abs(cfg.StorageDir)
		if err != nil {
			return nil, fmt.Errorf("certificate storage %s: %w", cfg.StorageDir, err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating certificate storage: %w", err)
		}
		storage = &certmagic.FileStorage{Path: dir}
	}
	roots, err := loadRoots(cfg.CARoot)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		conf:      cfg,
		hosts:     make(map[string]*hostState),
		forgotten: make(map[string]bool),
	}
	if cfg.TicketKeyFile != "" {
		if m.tickets, err = loadTicketKeys(cfg.TicketKeyFile, time.Now); err != nil {
			return nil, err
		}
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	logger := newZapLogger(cfg.Logf)
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: renewCheckInterval,
		Logger:             logger,
	})
	m.magic = certmagic.New(m.cache, certmagic.Config{
		Storage:        storage,
		OnEvent:        m.onEvent,
		ShouldEmitFunc: isTrackedEvent,
		Logger:         logger,
	})
	m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
		CA:                      cfg.CA,
		Email:                   cfg.Email,
		Agreed:                  true,
		TrustedRoots:            roots,
		AltHTTPPort:             cfg.HTTPPort,
		AltTLSALPNPort:          cfg.HTTPSPort,
		DisableHTTPChallenge:    cfg.DisableHTTPChallenge,
		DisableTLSALPNChallenge: cfg.DisableTLSALPNChallenge,
		Logger:                  logger,
	})
	m.magic.Issuers = []certmagic.Issuer{m.issuer}
	if cfg.DNS != nil {
		propagation := cfg.DNSPropagationTimeout
		if propagation < 0 {
			propagation = -1 // certmagic's "do not check"
		}
		m.dnsMagic = certmagic.New(m.cache, certmagic.Config{
			Storage:        storage,
			OnEvent:        m.onEvent,
			ShouldEmitFunc: isTrackedEvent,
			Logger:         logger,
		})
		m.dnsMagic.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(m.dnsMagic, certmagic.ACMEIssuer{
			CA:           cfg.CA,
			Email:        cfg.Email,
			Agreed:       true,
			TrustedRoots: roots,
			DNS01Solver: &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
				DNSProvider:        cfg.DNS,
				Resolvers:          cfg.DNSResolvers,
				PropagationTimeout: propagation,
				Logger:             logger,
			}},
			Logger: logger,
		})}
	}
	return m, nil
}

// configFor is the certmagic config that obtains host: DNS-01 for a
// wildcard name, or nil when there is none for it.
func (m *Manager) configFor(host string) *certmagic.Config {
	if IsWildcard(host) {
		return m.dnsMagic
	}
	return m.magic
}

// configForCert is the cache's way back from a certificate to the config
// that renews it.
func (m *Manager) configForCert(c certmagic.Certificate) (*certmagic.Config, error) {
	for _, name := range c.Names {
		if IsWildcard(name) && m.dnsMagic != nil {
			return m.dnsMagic, nil
		}
	}
	return m.magic, nil
}

// errNoDNS says why a wildcard name cannot be had.
var errNoDNS = errors.New("a wildcard certificate needs the DNS-01 challenge: configure a DNS provider for the zone")

// loadRoots returns the system roots plus the PEM certificates in file, or
// nil (the system roots) when file is "".
func loadRoots(file string) (*x509.CertPool, error) {
	if file == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading ACME CA root: %w (pass the PEM file of the root that signs your ACME server's certificate)", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("reading ACME CA root %s: no PEM certificate found in the file", file)
	}
	return pool, nil
}

// Close stops obtaining and renewing; certificates stay in storage.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	m.cache.Stop()
}
