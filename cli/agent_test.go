package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/agent"
)

// captureAgent replaces the daemon with one that records its Config.
func captureAgent(t *testing.T) *agent.Config {
	t.Helper()
	var got agent.Config
	old := startAgent
	startAgent = func(_ context.Context, cfg agent.Config) error { got = cfg; return nil }
	t.Cleanup(func() { startAgent = old })
	return &got
}

func TestAgentConfig(t *testing.T) {
	got := captureAgent(t)
	for _, k := range []string{"PIER_DATA_DIR", "PIER_API_ADDR", "PIER_SCHEDULER", "PIER_DOMAIN", "PIER_WATCH_WINDOW", "PIER_SSH_ADDR", "PIER_UID_RANGE"} {
		t.Setenv(k, "")
	}
	t.Setenv("PIER_HTTP_ADDR", "127.0.0.1:9090")
	t.Setenv("PIER_ADMIN_TOKEN", "admin-secret")
	t.Setenv("PIER_SECRET_KEY", "a2V5")
	mustPier(t, "agent", "--data-dir", "/srv/pier", "--domain", "apps.example.com", "--scheduler", "nomad",
		"--nomad-addr", "http://127.0.0.1:4646", "--standby-window", "5m", "--acme-ca", "https://127.0.0.1:14000/dir")
	uids, err := agent.ParseUIDRange(agent.DefaultUIDRange)
	if err != nil {
		t.Fatal(err)
	}
	want := agent.Config{
		UIDs:    uids,
		DataDir: "/srv/pier", APIAddr: "127.0.0.1:7070", HTTPAddr: "127.0.0.1:9090", SSHAddr: ":2222", Domain: "apps.example.com",
		ACMECA: "https://127.0.0.1:14000/dir", Scheduler: "nomad", NomadAddr: "http://127.0.0.1:4646", NomadDriver: "raw_exec",
		AdminToken: "admin-secret", SecretKey: "a2V5", StandbyWindow: 5 * time.Minute, WatchWindow: 30 * time.Second, ReleaseTimeout: 10 * time.Minute,
		BuildTimeout: 15 * time.Minute, WebhookRetry: 15 * time.Second, LogRetention: 7 * 24 * time.Hour,
		MaxConns: agent.DefaultMaxConns, ProcessLimit: agent.DefaultProcessLimit, Version: version,
		Backup: agent.BackupSchedule{Keep: agent.DefaultBackupKeep},
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("agent config\n%+v\nwant\n%+v", *got, want)
	}
}

// TestAgentBackupFlags: the --backup-* flags, with the passphrase from a
// file or the environment, never from a flag's value.
func TestAgentBackupFlags(t *testing.T) {
	got := captureAgent(t)
	for _, k := range []string{"PIER_DATA_DIR", "PIER_SCHEDULER", "PIER_UID_RANGE", "PIER_BACKUP_SCHEDULE", "PIER_BACKUP_TO", "PIER_BACKUP_KEEP"} {
		t.Setenv(k, "") // restored after the test
		os.Unsetenv(k)
	}
	t.Setenv("PIER_BACKUP_PASSPHRASE", "from the environment")
	mustPier(t, "agent", "--backup-schedule", "0 3 * * *", "--backup-to", "s3://b/vm1", "--backup-keep", "30", "--backup-include-key")
	if want := (agent.BackupSchedule{Every: "0 3 * * *", To: "s3://b/vm1", Keep: 30, IncludeKey: true, Passphrase: "from the environment"}); got.Backup != want {
		t.Errorf("backup config %+v, want %+v", got.Backup, want)
	}
	file := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(file, []byte("from the file, line one\nline two\n"), 0o600)
	mustPier(t, "agent", "--backup-schedule", "6h", "--backup-to", "/backups", "--backup-passphrase-file", file)
	if got.Backup.Passphrase != "from the file, line one" || got.Backup.Keep != agent.DefaultBackupKeep {
		t.Errorf("backup config %+v", got.Backup)
	}
	for args, want := range map[string]string{
		"--backup-keep 0":                  "--backup-keep must be at least 1",
		"--backup-passphrase-file /nope":   "reading the passphrase",
		"--backup-passphrase-file " + file: "", // fine
	} {
		_, _, err := pier(t, append([]string{"agent", "--backup-schedule", "1h", "--backup-to", "/b"}, strings.Fields(args)...)...)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}

func TestAgentRefusesBadInput(t *testing.T) {
	got := captureAgent(t)
	t.Setenv("PIER_SCHEDULER", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--scheduler", "kubernetes"}, "use --scheduler local or --scheduler nomad"},
		{[]string{"agent", "--admin-token", "x"}, "flag provided but not defined"},
		{[]string{"agent", "--watch-window", "soon"}, "watch-window"},
		{[]string{"agent", "serve"}, "takes no arguments"},
		{[]string{"agent", "--ssh-addr", "2222"}, "--ssh-addr must be HOST:PORT (like :2222) or off"},
		{[]string{"agent", "--process-limit", "3"}, "--process-limit must be at least 16"},
		{[]string{"agent", "--build-timeout", "0s"}, "--build-timeout must be positive (like 15m), got 0s"},
		{[]string{"agent", "--uid-range", "1000-1999"}, "--uid-range: uid range 1000-1999 starts among the ids the host gives people"},
		{[]string{"agent", "--uid-range", "80000"}, "a uid range is written FIRST-LAST, as in 70000-99999"},
	} {
		_, _, err := pier(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pier %v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	if !reflect.DeepEqual(*got, agent.Config{}) {
		t.Errorf("the agent started with bad input: %+v", *got)
	}
	t.Setenv("PIER_SCHEDULER", "swarm")
	if _, _, err := pier(t, "agent"); err == nil || !strings.Contains(err.Error(), `"swarm"`) {
		t.Errorf("PIER_SCHEDULER=swarm: %v", err)
	}
	t.Setenv("PIER_SCHEDULER", "")
	startAgent = func(context.Context, agent.Config) error {
		return errors.New("listening on 127.0.0.1:7070: address in use")
	}
	if _, _, err := pier(t, "agent"); err == nil {
		t.Error("an agent that failed to start returned no error")
	}
}

// TestAgentACMEDNS: --acme-dns and its settings reach the agent, read from
// flags or PIER_ variables; what is wrong or missing is refused at start,
// naming the flag.
func TestAgentACMEDNS(t *testing.T) {
	got := captureAgent(t)
	for _, k := range []string{"PIER_DATA_DIR", "PIER_SCHEDULER", "PIER_UID_RANGE", "PIER_DOMAIN", "PIER_HTTPS_ADDR", "PIER_ACME_DNS", "PIER_ACME_DNS_ZONE", "PIER_ACME_DNS_PROJECT", "PIER_ACME_DNS_RESOLVERS"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	mustPier(t, "agent", "--https-addr", ":443", "--domain", "apps.example.com", "--acme-dns", "route53", "--acme-dns-zone", "example.com",
		"--acme-dns-resolvers", "10.0.0.2:53, 1.1.1.1:53", "--acme-dns-propagation-timeout", "-1s")
	if got.ACMEDNS != "route53" || got.ACMEDNSZone != "example.com" || !reflect.DeepEqual(got.ACMEDNSResolvers, []string{"10.0.0.2:53", "1.1.1.1:53"}) || got.ACMEDNSPropagationTimeout != -time.Second {
		t.Errorf("route53: %+v", *got)
	}
	t.Setenv("PIER_ACME_DNS", "gcloud")
	t.Setenv("PIER_ACME_DNS_ZONE", "example-com")
	t.Setenv("PIER_ACME_DNS_PROJECT", "acme-prod")
	mustPier(t, "agent", "--https-addr", ":443", "--domain", "apps.example.com")
	if got.ACMEDNS != "gcloud" || got.ACMEDNSZone != "example-com" || got.ACMEDNSProject != "acme-prod" {
		t.Errorf("gcloud from the environment: %+v", *got)
	}
	for _, k := range []string{"PIER_ACME_DNS", "PIER_ACME_DNS_ZONE", "PIER_ACME_DNS_PROJECT"} {
		os.Unsetenv(k)
	}
	*got = agent.Config{}
	base := []string{"agent", "--https-addr", ":443", "--domain", "apps.example.com"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--acme-dns", "cloudflare", "--acme-dns-zone", "example.com"}, `unknown --acme-dns provider "cloudflare": use --acme-dns route53 (Amazon Route 53) or --acme-dns gcloud`},
		{[]string{"--acme-dns", "route53"}, "--acme-dns route53 needs --acme-dns-zone"},
		{[]string{"--acme-dns", "gcloud", "--acme-dns-zone", "example-com"}, "--acme-dns gcloud needs --acme-dns-project"},
		{[]string{"--acme-dns", "route53", "--acme-dns-zone", "Z1", "--acme-dns-project", "p"}, "--acme-dns-project is for --acme-dns gcloud"},
		{[]string{"--acme-dns-zone", "example.com"}, "--acme-dns-zone and --acme-dns-project need --acme-dns route53 or --acme-dns gcloud"},
		{[]string{"--acme-dns", "route53", "--acme-dns-zone", "other.org"}, "--domain apps.example.com is not in --acme-dns-zone other.org"},
		{[]string{"--acme-dns", "route53", "--acme-dns-zone", "Z1", "--acme-dns-resolvers", "10.0.0.2"}, `--acme-dns-resolvers: "10.0.0.2" is not HOST:PORT`},
		{[]string{"--acme-dns", "route53", "--acme-dns-zone", "Z1", "--domain", "localhost"}, "set --domain to a name in your zone"},
		{[]string{"--acme-dns", "route53", "--acme-dns-zone", "Z1", "--https-addr", ""}, "set --https-addr too"},
	} {
		_, _, err := pier(t, append(slices.Clone(base), c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pier agent %v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	if !reflect.DeepEqual(*got, agent.Config{}) {
		t.Errorf("the agent started with bad input: %+v", *got)
	}
}

// TestAgentAllowPrivateTargets: off by default; on by the flag, its old
// name, or PIER_ALLOW_PRIVATE_TARGETS.
func TestAgentAllowPrivateTargets(t *testing.T) {
	got := captureAgent(t)
	for _, k := range []string{"PIER_DATA_DIR", "PIER_SCHEDULER", "PIER_UID_RANGE", "PIER_ALLOW_PRIVATE_TARGETS", "PIER_WEBHOOK_ALLOW_PRIVATE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	mustPier(t, "agent")
	if got.AllowPrivateTargets {
		t.Error("private targets allowed by default")
	}
	for _, args := range [][]string{{"--allow-private-targets"}, {"--webhook-allow-private"}} {
		*got = agent.Config{}
		mustPier(t, append([]string{"agent"}, args...)...)
		if !got.AllowPrivateTargets {
			t.Errorf("%v did not allow private targets", args)
		}
	}
	t.Setenv("PIER_ALLOW_PRIVATE_TARGETS", "true")
	*got = agent.Config{}
	if mustPier(t, "agent"); !got.AllowPrivateTargets {
		t.Error("PIER_ALLOW_PRIVATE_TARGETS=true did not allow private targets")
	}
}
