package cli

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent"
)

// startAgent starts the daemon; tests replace it to see the Config.
var startAgent = agent.Run

func agentCommand() *ucli.Command {
	str := func(name, value, usage string) *ucli.StringFlag {
		return &ucli.StringFlag{Name: name, Value: value, Usage: usage, EnvVars: []string{envName(name)}}
	}
	dur := func(name string, value time.Duration, usage string) *ucli.DurationFlag {
		return &ucli.DurationFlag{Name: name, Value: value, Usage: usage, EnvVars: []string{envName(name)}}
	}
	return &ucli.Command{
		Name:  "agent",
		Usage: "run the pier agent (the daemon)",
		Description: "Every flag also reads PIER_<FLAG> from the environment (PIER_DATA_DIR, ...).\n" +
			"PIER_ADMIN_TOKEN sets the admin API token and PIER_SECRET_KEY the key that\n" +
			"encrypts config vars; they are read from the environment only, as is\n" +
			"PIER_BACKUP_PASSPHRASE (encrypts scheduled backups; or --backup-passphrase-file)\n" +
			"and the AWS_* variables of an s3:// --backup-to (see docs/operations.md).",
		Flags: []ucli.Flag{
			str("data-dir", "pier-data", "where the agent keeps its state"),
			str("api-addr", "127.0.0.1:7070", "address of the API"),
			str("http-addr", ":8080", "address of the HTTP proxy"),
			str("https-addr", "", "address of the HTTPS proxy (off when empty)"),
			str("ssh-addr", ":2222", "address of git over SSH, or off"),
			str("domain", "localhost", "apps are served at APP.`DOMAIN`"),
			str("acme-email", "", "email for the ACME account"),
			str("acme-ca", "", "ACME directory `URL` (default: Let's Encrypt)"),
			str("acme-ca-root", "", "PEM `FILE` of the ACME server's root to trust"),
			str("acme-dns", "", "obtain one wildcard certificate, *.DOMAIN, for every app by DNS-01 in this `PROVIDER`'s DNS: route53 or gcloud"),
			str("acme-dns-zone", "", "the DNS `ZONE` of --acme-dns: its id (Route 53 Z0123..., Cloud DNS zone name) or its DNS name (example.com)"),
			str("acme-dns-project", "", "the Google Cloud `PROJECT` of the --acme-dns gcloud zone"),
			str("acme-dns-endpoint", "", "the `URL` of the DNS provider's API, when not the cloud's own (a private endpoint)"),
			str("acme-dns-resolvers", "", "`HOST:PORT,...` of DNS servers asked for the zone and the challenge record (default: the system's)"),
			dur("acme-dns-propagation-timeout", 0, "how long to wait for the challenge record at the zone's name servers (0: 2m; negative: do not check)"),
			str("scheduler", "local", "where apps run: local or nomad"),
			str("nomad-addr", "", "Nomad API `URL` (with --scheduler nomad)"),
			str("nomad-driver", "raw_exec", "Nomad task driver: raw_exec or exec"),
			str("advertise-addr", "", "`HOST:PORT` at which Nomad clients reach this agent's API for slugs (default: --api-addr)"),
			str("postgres-bin", "", "PostgreSQL's bin `DIR` for add-ons (default: the newest /usr/lib/postgresql/*/bin, or PATH)"),
			str("redis-server", "", "redis-server `PROGRAM` for add-ons (default: PATH's)"),
			str("addon-node", "", "with --scheduler nomad: the Nomad `NODE` (its name) whose host volumes pier-addon-NAME keep the add-ons' data"),
			dur("standby-window", 15*time.Minute, "how long the previous release stays warm"),
			dur("watch-window", 30*time.Second, "how long a new release is watched before it is trusted"),
			dur("build-timeout", 15*time.Minute, "how long a build may take; one over it is stopped with everything it started"),
			str("trusted-proxies", "", "`CIDR,...` of load balancers whose X-Forwarded-For names the client"),
			&ucli.IntFlag{Name: "max-conns", Value: agent.DefaultMaxConns, Usage: "open connections each proxy listener accepts at most", EnvVars: []string{envName("max-conns")}},
			str("uid-range", agent.DefaultUIDRange, "`FIRST-LAST` user ids for isolated apps and builds; agents sharing a host each need their own"),
			dur("webhook-retry", 15*time.Second, "how long a failed webhook delivery waits before its first retry (each next one twice as long, for 24h)"),
			&ucli.BoolFlag{Name: "allow-private-targets", Aliases: []string{"webhook-allow-private"}, Usage: "let webhooks, log drains and Sentry releases reach loopback, private and link-local addresses (this host's services, the network behind it, cloud metadata)", EnvVars: []string{envName("allow-private-targets"), envName("webhook-allow-private")}},
			dur("log-retention", 7*24*time.Hour, "how far back pier logs serves lines; rotated log files older than this are deleted"),
			str("sentry-dsn", "", "send the agent's own panics and unexpected errors to this Sentry `DSN`"),
			str("drain-ca-file", "", "PEM `FILE` of CA certificates to trust for TLS log drains, besides the system's"),
			&ucli.IntFlag{Name: "process-limit", Value: agent.DefaultProcessLimit, Usage: "processes and threads each app's user (and each build's) may run at once", EnvVars: []string{envName("process-limit")}},
			str("backup-schedule", "", "make a backup every `INTERVAL` (6h) or at the times of a cron expression (\"0 3 * * *\", @daily)"),
			str("backup-to", "", "where scheduled backups go: a `DIR`, s3://bucket/prefix or gs://bucket/prefix"),
			&ucli.IntFlag{Name: "backup-keep", Value: agent.DefaultBackupKeep, Usage: "scheduled backups to keep; the oldest beyond go", EnvVars: []string{envName("backup-keep")}},
			&ucli.BoolFlag{Name: "backup-include-key", Usage: "put the secret key into scheduled backups, encrypted with the passphrase", EnvVars: []string{envName("backup-include-key")}},
			str("backup-passphrase-file", "", "`FILE` whose first line encrypts scheduled backups (else "+agent.PassphraseEnv+")"),
		},
		Action: runAgent,
	}
}

// envName is the environment variable of an agent flag: data-dir -> PIER_DATA_DIR.
func envName(flag string) string {
	b := []byte("PIER_" + flag)
	for i, c := range b {
		switch {
		case c == '-':
			b[i] = '_'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

func runAgent(c *ucli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("pier agent takes no arguments, got %q (see `pier agent --help`)", c.Args().First())
	}
	cfg := agent.Config{
		DataDir:       c.String("data-dir"),
		APIAddr:       c.String("api-addr"),
		HTTPAddr:      c.String("http-addr"),
		HTTPSAddr:     c.String("https-addr"),
		SSHAddr:       c.String("ssh-addr"),
		Domain:        c.String("domain"),
		ACMEEmail:     c.String("acme-email"),
		ACMECA:        c.String("acme-ca"),
		ACMECARoot:    c.String("acme-ca-root"),
		Scheduler:     c.String("scheduler"),
		NomadAddr:     c.String("nomad-addr"),
		NomadDriver:   c.String("nomad-driver"),
		AdvertiseAddr: c.String("advertise-addr"),
		PostgresBin:   c.String("postgres-bin"),
		RedisServer:   c.String("redis-server"),
		AddonNode:     c.String("addon-node"),
		StandbyWindow: c.Duration("standby-window"),
		WatchWindow:   c.Duration("watch-window"),
		BuildTimeout:  c.Duration("build-timeout"),
		WebhookRetry:  c.Duration("webhook-retry"),

		AllowPrivateTargets: c.Bool("allow-private-targets"),
		DrainCAFile:         c.String("drain-ca-file"),
		SentryDSN:           c.String("sentry-dsn"),
		LogRetention:        c.Duration("log-retention"),
		AdminToken:          os.Getenv("PIER_ADMIN_TOKEN"),
		SecretKey:           os.Getenv("PIER_SECRET_KEY"),
		Version:             version,
	}
	var err error
	if cfg.TrustedProxies, err = parseTrustedProxies(c.String("trusted-proxies")); err != nil {
		return err
	}
	if cfg.MaxConns = c.Int("max-conns"); cfg.MaxConns < 1 {
		return fmt.Errorf("--max-conns must be at least 1, got %d", cfg.MaxConns)
	}
	if cfg.ProcessLimit = c.Int("process-limit"); cfg.ProcessLimit < 16 {
		return fmt.Errorf("--process-limit must be at least 16, got %d", cfg.ProcessLimit)
	}
	if cfg.BuildTimeout <= 0 {
		return fmt.Errorf("--build-timeout must be positive (like 15m), got %s", cfg.BuildTimeout)
	}
	if s := c.String("uid-range"); s != "" { // empty: the default
		if cfg.UIDs, err = agent.ParseUIDRange(s); err != nil {
			return fmt.Errorf("--uid-range: %w", err)
		}
	}
	if _, _, err := net.SplitHostPort(cfg.SSHAddr); err != nil && cfg.SSHAddr != "" && cfg.SSHAddr != agent.SSHOff {
		return fmt.Errorf("--ssh-addr must be HOST:PORT (like :2222) or off, got %q", cfg.SSHAddr)
	}
	switch cfg.Scheduler {
	case "local", "nomad":
	default:
		return fmt.Errorf("unknown scheduler %q: use --scheduler local or --scheduler nomad", cfg.Scheduler)
	}
	if d := cfg.NomadDriver; d != "" && d != "raw_exec" && d != "exec" {
		return fmt.Errorf("--nomad-driver must be raw_exec or exec, got %q", d)
	}
	if a := cfg.AdvertiseAddr; a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("--advertise-addr must be HOST:PORT, got %q", a)
		}
	}
	if cfg.Scheduler == "nomad" && cfg.NomadAddr == "" {
		cfg.NomadAddr = os.Getenv("NOMAD_ADDR")
	}
	if cfg.StandbyWindow < 0 || cfg.WatchWindow < 0 {
		return fmt.Errorf("--standby-window and --watch-window must not be negative")
	}
	if cfg.Backup, err = backupSchedule(c); err != nil {
		return err
	}
	if err := acmeDNS(c, &cfg); err != nil {
		return err
	}
	cfg.Defaults()
	return startAgent(c.Context, cfg)
}

// acmeDNS reads the --acme-dns-* flags into cfg and checks them.
func acmeDNS(c *ucli.Context, cfg *agent.Config) error {
	cfg.ACMEDNS = strings.TrimSpace(c.String("acme-dns"))
	cfg.ACMEDNSZone = strings.TrimSpace(c.String("acme-dns-zone"))
	cfg.ACMEDNSProject = strings.TrimSpace(c.String("acme-dns-project"))
	cfg.ACMEDNSEndpoint = strings.TrimSpace(c.String("acme-dns-endpoint"))
	cfg.ACMEDNSPropagationTimeout = c.Duration("acme-dns-propagation-timeout")
	for _, r := range strings.Split(c.String("acme-dns-resolvers"), ",") {
		if r = strings.TrimSpace(r); r == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(r); err != nil {
			return fmt.Errorf("--acme-dns-resolvers: %q is not HOST:PORT (like 1.1.1.1:53)", r)
		}
		cfg.ACMEDNSResolvers = append(cfg.ACMEDNSResolvers, r)
	}
	switch cfg.ACMEDNS {
	case "":
		if cfg.ACMEDNSZone != "" || cfg.ACMEDNSProject != "" {
			return errors.New("--acme-dns-zone and --acme-dns-project need --acme-dns route53 or --acme-dns gcloud")
		}
		return nil
	case "route53", "gcloud":
	default:
		return fmt.Errorf("unknown --acme-dns provider %q: use --acme-dns route53 (Amazon Route 53) or --acme-dns gcloud (Google Cloud DNS)", cfg.ACMEDNS)
	}
	if cfg.HTTPSAddr == "" {
		return fmt.Errorf("--acme-dns %s obtains certificates for the HTTPS proxy: set --https-addr too (like :443)", cfg.ACMEDNS)
	}
	if cfg.ACMEDNSZone == "" {
		return fmt.Errorf("--acme-dns %s needs --acme-dns-zone: the zone that holds %s, by id or by DNS name", cfg.ACMEDNS, cfg.Domain)
	}
	if cfg.ACMEDNS == "gcloud" && cfg.ACMEDNSProject == "" {
		return errors.New("--acme-dns gcloud needs --acme-dns-project: the Google Cloud project of the zone")
	}
	if cfg.ACMEDNS == "route53" && cfg.ACMEDNSProject != "" {
		return errors.New("--acme-dns-project is for --acme-dns gcloud; Route 53 zones have no project")
	}
	if cfg.Domain == "" || cfg.Domain == "localhost" || !strings.Contains(cfg.Domain, ".") {
		return fmt.Errorf("--acme-dns obtains *.DOMAIN from a public CA: set --domain to a name in your zone (like apps.example.com), not %q", cfg.Domain)
	}
	if strings.Contains(cfg.ACMEDNSZone, ".") {
		zone := strings.ToLower(strings.TrimSuffix(cfg.ACMEDNSZone, "."))
		if d := strings.ToLower(cfg.Domain); d != zone && !strings.HasSuffix(d, "."+zone) {
			return fmt.Errorf("--domain %s is not in --acme-dns-zone %s: the wildcard *.%s needs its records in the zone that holds it", cfg.Domain, zone, cfg.Domain)
		}
	}
	return nil
}

// backupSchedule reads the --backup-* flags; the agent checks them.
func backupSchedule(c *ucli.Context) (agent.BackupSchedule, error) {
	b := agent.BackupSchedule{Every: c.String("backup-schedule"), To: c.String("backup-to"), Keep: c.Int("backup-keep"), IncludeKey: c.Bool("backup-include-key")}
	if b.Keep < 1 {
		return b, fmt.Errorf("--backup-keep must be at least 1, got %d", b.Keep)
	}
	if b.Every == "" {
		return b, nil
	}
	var err error
	b.Passphrase, err = agent.BackupPassphrase(c.String("backup-passphrase-file"), os.Getenv)
	return b, err
}

// parseTrustedProxies reads --trusted-proxies: CIDRs or single addresses,
// separated by commas.
func parseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			a, aerr := netip.ParseAddr(f)
			if aerr != nil {
				return nil, fmt.Errorf("--trusted-proxies: %q is not a CIDR like 10.0.0.0/8 or an address like 10.0.0.1", f)
			}
			p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
