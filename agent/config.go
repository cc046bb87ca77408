// Package agent is the pier daemon: its configuration, the HTTP API and its
// auth, and the deployer that builds, releases, deploys, switches and
// watches. It is the only writer of desired state.
package agent

import (
	"net/netip"
	"time"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/sandbox"
)

// Config is the agent's configuration. The cli package fills it from flags
// and PIER_* environment variables.
type Config struct {
	DataDir    string // ./pier-data
	APIAddr    string // 127.0.0.1:7070
	HTTPAddr   string // :8080
	HTTPSAddr  string // "" (HTTPS off)
	SSHAddr    string // :2222, git over SSH; "off" turns it off
	Domain     string // localhost
	ACMEEmail  string
	ACMECA     string // ACME directory URL
	ACMECARoot string // PEM file to trust for the ACME server
	// ACMEDNS, when set (route53 or gcloud), obtains one wildcard
	// certificate for every app, *.<Domain>, by the DNS-01 challenge in
	// that cloud's DNS; custom domains keep HTTP-01 and TLS-ALPN-01.
	ACMEDNS         string
	ACMEDNSZone     string // the zone's id or DNS name
	ACMEDNSProject  string // the zone's Google Cloud project (gcloud)
	ACMEDNSEndpoint string // the DNS API's URL, when not the cloud's own
	// ACMEDNSResolvers ("host:port") are asked for the zone of the
	// wildcard and for its records' propagation; empty: the system's.
	ACMEDNSResolvers []string
	// ACMEDNSPropagationTimeout bounds the wait for the TXT record to be
	// seen at the zone's name servers (0: 2 minutes; negative: no check).
	ACMEDNSPropagationTimeout time.Duration
	Scheduler                 string // local | nomad
	NomadAddr                 string
	// NomadDriver runs the apps' tasks: raw_exec (default) or exec.
	NomadDriver string
	// AdvertiseAddr is the host:port at which Nomad clients on other hosts
	// reach this agent's API for slugs; default: the API address.
	AdvertiseAddr string

	// TrustedProxies are the peers whose X-Forwarded-For names the client
	// (a load balancer in front of pier); nobody's by default.
	TrustedProxies []netip.Prefix
	// MaxConns caps the open connections of each proxy listener (10000).
	MaxConns int
	// ProcessLimit caps the processes and threads each app's user, and each
	// build's, runs at once (RLIMIT_NPROC), when apps are isolated (2048).
	ProcessLimit int
	// UIDs is the range of user ids apps and builds get, when apps are
	// isolated (sandbox.DefaultRange).
	UIDs sandbox.Range

	// PostgresBin is PostgreSQL's bin directory for add-ons; default: the
	// newest /usr/lib/postgresql/*/bin, or PATH's.
	PostgresBin string
	// RedisServer is the redis-server for add-ons; default: PATH's.
	RedisServer string
	// AddonNode is the Nomad node (its name) that keeps the add-ons' data
	// with the Nomad scheduler, each in the host volume pier-addon-NAME of
	// its client configuration. "": add-ons do not run on Nomad.
	AddonNode string

	// AdminToken, when set, is the admin API token instead of a generated one.
	AdminToken string
	// SecretKey, when set, is the key that encrypts config vars at rest
	// (base64 of 32 bytes) instead of <data-dir>/secret.key.
	SecretKey string

	StandbyWindow time.Duration // how long the old slot stays warm (15m)
	WatchWindow   time.Duration // how long a new release is watched (30s)
	// ReleaseTimeout bounds the Procfile release command (10m).
	ReleaseTimeout time.Duration
	// BuildTimeout bounds one whole build (15m, as on Heroku); a build
	// over it is stopped with every process it started.
	BuildTimeout time.Duration

	// WebhookRetry is how long a failed webhook delivery waits before its
	// first retry; each retry waits twice as long as the last (15s).
	WebhookRetry time.Duration
	// AllowPrivateTargets lets webhooks, log drains and Sentry releases
	// reach loopback, private and link-local addresses (this host's
	// services, the network behind it, cloud metadata services): for
	// receivers there. Off, anyone who may add a webhook could make the
	// agent send requests to them.
	AllowPrivateTargets bool
	// DrainCAFile is a PEM file of roots that TLS log drains (syslog+tls,
	// https) may also be signed by, besides the system's.
	DrainCAFile string
	// SentryDSN, when set, sends the agent's own panics and unexpected
	// errors to Sentry (PIER_SENTRY_DSN).
	SentryDSN string
	// LogRetention is how far back `pier logs` serves lines (7 days);
	// rotated log files older than it are deleted.
	LogRetention time.Duration
	// Backup makes backups on a schedule; off when Backup.Every is "".
	Backup BackupSchedule

	Version string
}

// DefaultMaxConns is Config.MaxConns when it is 0.
const DefaultMaxConns = 10000

// DefaultUIDRange is Config.UIDs when it is the zero Range, as --uid-range
// writes it.
var DefaultUIDRange = sandbox.DefaultRange.String()

// ParseUIDRange reads --uid-range: FIRST-LAST, as in 70000-99999.
func ParseUIDRange(s string) (sandbox.Range, error) { return sandbox.ParseRange(s) }

// DefaultProcessLimit is Config.ProcessLimit when it is 0.
const DefaultProcessLimit = 2048

// Defaults fills the zero fields of c with the embedded defaults.
func (c *Config) Defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.DataDir, "pier-data")
	def(&c.APIAddr, "127.0.0.1:7070")
	def(&c.HTTPAddr, ":8080")
	def(&c.SSHAddr, ":2222")
	def(&c.Domain, "localhost")
	def(&c.Scheduler, "local")
	def(&c.Version, "dev")
	if c.StandbyWindow == 0 {
		c.StandbyWindow = 15 * time.Minute
	}
	if c.WatchWindow == 0 {
		c.WatchWindow = 30 * time.Second
	}
	if c.MaxConns == 0 {
		c.MaxConns = DefaultMaxConns
	}
	if c.ProcessLimit == 0 {
		c.ProcessLimit = DefaultProcessLimit
	}
	if c.UIDs == (sandbox.Range{}) {
		c.UIDs = sandbox.DefaultRange
	}
	if c.LogRetention == 0 {
		c.LogRetention = 7 * 24 * time.Hour
	}
	if c.WebhookRetry <= 0 {
		c.WebhookRetry = 15 * time.Second
	}
	if c.ReleaseTimeout == 0 {
		c.ReleaseTimeout = 10 * time.Minute
	}
	if c.BuildTimeout == 0 {
		c.BuildTimeout = buildpacks.DefaultTimeout
	}
}

// appHost is the host name of app under the agent's domain.
func (c Config) appHost(app string) string { return app + "." + c.Domain }

// controlHost is the host name that reaches the API through the proxy.
func (c Config) controlHost() string { return "pier." + c.Domain }

// wildcardHost is the name of the one certificate every app host shares,
// *.<Domain>, when it is obtained by DNS-01; "" otherwise.
func (c Config) wildcardHost() string {
	if c.ACMEDNS == "" {
		return ""
	}
	return "*." + c.Domain
}

// webURL is the URL at which app is served.
func (c Config) webURL(app string) string {
	if c.HTTPSAddr != "" {
		return "https://" + c.appHost(app) + portSuffix(c.HTTPSAddr, "443")
	}
	return "http://" + c.appHost(app) + portSuffix(c.HTTPAddr, "80")
}
