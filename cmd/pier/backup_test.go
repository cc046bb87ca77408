package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/internal/s3stub"
)

// TestDisasterRecovery: a real agent with three apps (shop with two
// releases, config vars and a custom domain; blog; api) under continuous
// load backs up to an S3 bucket (a local stand-in, internal/s3stub: no
// cloud here) with its key, encrypted with a passphrase, and no request
// fails meanwhile. The VM is lost; the backup restored from the bucket
// into a new empty data dir serves every app from the same release and
// commit (nothing builds), the config decrypts, tokens made before
// authenticate, domains are kept, and a push builds the next release.
func TestDisasterRecovery(t *testing.T) {
	needE2E(t)
	s3 := s3stub.Start(t, "pier-backups")
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	passFile := filepath.Join(t.TempDir(), "passphrase")
	if err := os.WriteFile(passFile, []byte("a long and correct passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, agentOpts{})
	oldToken := a.token
	apps := []string{"shop", "blog", "api"}
	hosts := map[string]string{"shop": "www.shop.test", "blog": "blog.localhost", "api": "api.localhost"}
	repos := map[string]*gitRepo{}
	for _, app := range apps {
		a.mustPier("apps", "create", app)
		r := newPrebuiltRepo(t, "hello")
		r.remote(a, app, a.token)
		mustPush(t, r, "main")
		repos[app] = r
	}
	a.mustPier("config", "set", "-a", "shop", "COLOR=teal", "DATABASE_URL=postgres://s3cr3t@db/shop") // v2
	a.mustPier("domains", "add", "-a", "shop", "www.shop.test")
	live, env := map[string]string{}, map[string]string{}
	for _, app := range apps {
		code, body, _, err := a.tryGet(hosts[app], "/")
		if err != nil || code != 200 {
			t.Fatalf("%s before the backup: %d %v %s", app, code, err, body)
		}
		live[app] = body
		_, env[app], _, _ = a.tryGet(hosts[app], "/env")
	}

	readToken := strings.TrimSpace(a.mustPier("tokens", "create", "--role", "read", "watcher", "--json"))
	var tok api.Token
	if err := json.Unmarshal([]byte(readToken), &tok); err != nil || tok.Secret == "" {
		t.Fatalf("tokens create --json: %v\n%s", err, readToken)
	}
	before := map[string][]api.Release{}
	for _, app := range apps {
		before[app] = releasesOf(t, a, app)
	}

	// The backup, under load on every app.
	var load []*traffic
	for _, app := range apps {
		w, ok := parseAnswer(app, live[app])
		if !ok {
			t.Fatalf("%s answered %q", app, live[app])
		}
		load = append(load, startTraffic(t, a, app, 3, 1, w))
	}
	time.Sleep(time.Second)
	const to = "s3://pier-backups/vm1"
	res := a.pier("backup", "create", "--to", to, "--include-key", "--passphrase-file", passFile)
	if res.code != 0 || !strings.Contains(res.stderr, "secret key is in the backup") {
		t.Fatalf("pier backup create: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	time.Sleep(time.Second)
	requests := 0
	for _, tr := range load {
		tr.stop()
		requests += tr.check()
	}
	t.Logf("%d requests during the backup, none failed", requests)
	if requests < 30 {
		t.Errorf("only %d requests during the backup", requests)
	}

	var list []struct {
		Location  string `json:"location"`
		Encrypted bool   `json:"encrypted"`
	}
	a.pierJSON(&list, "backup", "list", "--to", to)
	if len(list) != 1 || !list[0].Encrypted || !strings.HasPrefix(list[0].Location, to+"/pier-backup-") || !strings.HasSuffix(list[0].Location, ".tar.gz.age") {
		t.Fatalf("pier backup list --to %s: %+v", to, list)
	}
	file := list[0].Location
	if res := a.pier("backup", "verify", file); res.code == 0 || !strings.Contains(res.stderr, "PIER_BACKUP_PASSPHRASE") {
		t.Errorf("verify of an encrypted backup without the passphrase: exit %d\n%s", res.code, res.stderr)
	}
	if out := a.mustPier("backup", "verify", file, "--passphrase-file", passFile); !strings.Contains(out, "is good") || !strings.Contains(out, "with the secret key") {
		t.Errorf("pier backup verify: %s", out)
	}

	// The VM is lost: its agent and apps are gone.
	a.stop()
	killApps(a.dataDir)

	start := time.Now()
	dir := filepath.Join(reachableTempDir(t), "pier-data")
	res = a.pier("backup", "restore", file, "--data-dir", dir, "--passphrase-file", passFile)
	if res.code != 0 || !strings.Contains(res.stderr, "secret key was in the backup") {
		t.Fatalf("pier backup restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	b := startAgent(t, agentOpts{dataDir: dir})
	b.token = oldToken // the old admin token authenticates
	for _, app := range apps {
		waitFor(t, 60*time.Second, app+" serving again", func() bool {
			code, _, _, err := b.tryGet(hosts[app], "/")
			return err == nil && code == 200
		})
	}
	t.Logf("restored from the bucket and serving 3 apps in %v", time.Since(start).Round(time.Millisecond))
	for _, app := range apps {
		_, body, _, _ := b.tryGet(hosts[app], "/")
		was, _ := parseAnswer(app, live[app])
		if got, ok := parseAnswer(app, body); !ok || got != was {
			t.Errorf("%s answers %q after the restore, %q before", app, body, live[app])
		}
		_, e, _, _ := b.tryGet(hosts[app], "/env")
		for _, k := range []string{"PIER_RELEASE=", "SOURCE_VERSION=", "PIER_COMMIT=", "COLOR="} {
			if got, want := grepLines(e, k), grepLines(env[app], k); got != want || want == "" {
				t.Errorf("%s: %q after the restore, %q before", app, got, want)
			}
		}
	}
	for app, rels := range before {
		after := releasesOf(t, b, app) // nothing built: the same releases
		if len(after) != len(rels) {
			t.Fatalf("%s has %d releases after the restore, had %d", app, len(after), len(rels))
		}
		for i := range rels {
			if after[i].Version != rels[i].Version || after[i].SlugID != rels[i].SlugID || after[i].Commit != rels[i].Commit {
				t.Errorf("%s release %d after the restore: %+v, was %+v", app, i, after[i], rels[i])
			}
		}
	}
	wantConfig(t, b, "shop", "DATABASE_URL", "postgres://s3cr3t@db/shop")
	b.token = tok.Secret // a token made before the backup
	if out := b.mustPier("apps", "list"); !strings.Contains(out, "shop") {
		t.Errorf("apps list with the read token: %s", out)
	}
	b.token = oldToken
	var doms []api.Domain
	b.pierJSON(&doms, "domains", "list", "-a", "shop")
	if len(doms) != 1 || doms[0].Host != "www.shop.test" {
		t.Errorf("shop's domains after the restore: %+v", doms)
	}

	r := repos["shop"]
	r.remote(b, "shop", oldToken)
	r.rebuild("again")
	mustPush(t, r, "v3")
	waitFor(t, 60*time.Second, "shop v3 serving", func() bool {
		_, body, _, err := b.tryGet("www.shop.test", "/")
		return err == nil && strings.HasPrefix(body, "again from shop v3 ") && strings.Contains(body, "color=teal")
	})
}

// TestBackupKeyLost: a backup made without the key, restored with
// --without-key when the key is lost, names the config vars it cannot
// decrypt (never a value); the agent on it serves the app without them,
// `pier config` names them until they are set again.
func TestBackupKeyLost(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "shop")
	r := newPrebuiltRepo(t, "hello")
	r.remote(a, "shop", a.token)
	mustPush(t, r, "main")
	a.mustPier("config", "set", "-a", "shop", "COLOR=teal", "API_KEY=sk_live_very_secret") // v2
	backups := t.TempDir()
	a.mustPier("backup", "create", "--to", backups)
	files, _ := filepath.Glob(filepath.Join(backups, "pier-backup-*.tar.gz"))
	if len(files) != 1 {
		t.Fatalf("backups: %v", files)
	}
	oldToken := a.token
	a.stop()
	killApps(a.dataDir)

	dir := filepath.Join(reachableTempDir(t), "pier-data")
	res := a.pier("backup", "restore", files[0], "--data-dir", dir)
	if res.code != 0 || !strings.Contains(res.stderr, "--without-key") {
		t.Errorf("restore without a key, not told: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// The key is lost: restore again, without it.
	res = a.pier("backup", "restore", files[0], "--data-dir", dir, "--without-key", "--force")
	if res.code != 0 || !strings.Contains(res.stdout, "shop: could not decrypt API_KEY, COLOR") {
		t.Fatalf("restore --without-key: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if strings.Contains(res.stdout+res.stderr, "teal") || strings.Contains(res.stdout+res.stderr, "sk_live") {
		t.Errorf("the restore shows a value:\n%s%s", res.stdout, res.stderr)
	}
	b := startAgent(t, agentOpts{dataDir: dir})
	b.token = oldToken
	waitFor(t, 60*time.Second, "shop serving without its config", func() bool {
		code, body, _, err := b.tryGet("shop.localhost", "/")
		return err == nil && code == 200 && strings.HasPrefix(body, "hello from shop v2 ") && strings.HasSuffix(body, "color=\n")
	})
	res = b.pier("config", "-a", "shop")
	if res.code != 0 || !strings.Contains(res.stderr, "Undecryptable") || !strings.Contains(res.stderr, "API_KEY, COLOR") {
		t.Errorf("pier config after a restore without the key: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	b.mustPier("config", "set", "-a", "shop", "COLOR=red")
	waitFor(t, 60*time.Second, "shop v3 with COLOR set again", func() bool {
		_, body, _, err := b.tryGet("shop.localhost", "/")
		return err == nil && strings.HasPrefix(body, "hello from shop v3 ") && strings.HasSuffix(body, "color=red\n")
	})
	if res := b.pier("config", "-a", "shop"); !strings.Contains(res.stderr, "Undecryptable") || strings.Contains(res.stderr, "COLOR") {
		t.Errorf("pier config after setting COLOR again: %s", res.stderr)
	}
	b.mustPier("config", "unset", "-a", "shop", "API_KEY")
	if res := b.pier("config", "-a", "shop"); strings.Contains(res.stderr, "Undecryptable") {
		t.Errorf("pier config after unsetting API_KEY: %s", res.stderr)
	}
}

// TestScheduledBackupsToS3: an agent with --backup-schedule 2s backs up
// to a bucket (the local stand-in), keeps the newest --backup-keep,
// counts them on /metrics and records them in the audit log.
func TestScheduledBackupsToS3(t *testing.T) {
	needE2E(t)
	s3 := s3stub.Start(t, "pier-backups")
	const to = "s3://pier-backups/sched"
	a := startAgent(t, agentOpts{extra: append(s3.Env(), "PIER_BACKUP_SCHEDULE=2s", "PIER_BACKUP_TO="+to, "PIER_BACKUP_KEEP=2")})
	a.mustPier("apps", "create", "shop")
	waitFor(t, 60*time.Second, "three scheduled backups", func() bool {
		return a.metric(`pier_backups_total{result="succeeded"}`) >= 3
	})
	if n := a.metric(`pier_backups_total{result="failed"}`); n != 0 {
		t.Errorf("%v scheduled backups failed:\n%s", n, a.logs())
	}
	if age := time.Since(time.Unix(int64(a.metric("pier_backup_last_success_timestamp_seconds")), 0)); age > 10*time.Second {
		t.Errorf("the last good backup is %v old", age)
	}
	for _, kv := range s3.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var list []struct{ Location string }
	a.pierJSON(&list, "backup", "list", "--to", to)
	if len(list) != 2 {
		t.Errorf("%d backups kept, want 2: %+v", len(list), list)
	}
	if out := a.mustPier("audit"); !strings.Contains(out, "backup succeeded") {
		t.Errorf("pier audit shows no scheduled backup:\n%s", out)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAWRONG")
	if res := a.pier("backup", "list", "--to", to); res.code == 0 || !strings.Contains(res.stderr, "refused the credentials") || strings.Contains(res.stderr, s3.Secret) {
		t.Errorf("list with refused credentials: exit %d\n%s", res.code, res.stderr)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", s3.KeyID)
	if res := a.pier("backup", "create", "--to", "s3://no-such-bucket/x"); res.code == 0 || !strings.Contains(res.stderr, `bucket "no-such-bucket" does not exist`) {
		t.Errorf("create into a missing bucket: exit %d\n%s", res.code, res.stderr)
	}
}

// TestBackupFullDisk: a backup onto a file system that fills up fails
// with the reason, leaves nothing `backup list` shows, and the agent keeps
// serving. The disk is a 256 KiB tmpfs, which needs root.
func TestBackupFullDisk(t *testing.T) {
	needE2E(t)
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "shop")
	r := newPrebuiltRepo(t, "hello")
	r.remote(a, "shop", a.token)
	mustPush(t, r, "main")
	res := a.pier("backup", "create", "--to", mnt)
	if res.code == 0 || !strings.Contains(res.stderr, "no space left on device") || !strings.Contains(res.stderr, "nothing was kept") {
		t.Fatalf("backup onto a full disk: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if out := a.mustPier("backup", "list", "--to", mnt); strings.Contains(out, "pier-backup-") {
		t.Errorf("backup list shows a backup after a failure:\n%s", out)
	}
	if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
		t.Errorf("the failed backup left %v", ents)
	}
	if code, body, _, err := a.tryGet("shop.localhost", "/"); err != nil || code != 200 {
		t.Errorf("shop after the failed backup: %d %v %s", code, err, body)
	}
	if out := a.mustPier("backup", "create", "--to", t.TempDir()); !strings.Contains(out, "pier-backup-") {
		t.Errorf("a backup elsewhere after the failure: %s", out)
	}
}

// TestBackupTampered: a backup with a byte flipped is refused by verify and
// by restore, which writes nothing.
func TestBackupTampered(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "shop")
	backups := t.TempDir()
	a.mustPier("backup", "create", "--to", backups)
	files, _ := filepath.Glob(filepath.Join(backups, "pier-backup-*.tar.gz"))
	if len(files) != 1 {
		t.Fatalf("backups: %v", files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x01
	bad := filepath.Join(t.TempDir(), "tampered.tar.gz")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if res := a.pier("backup", "verify", bad); res.code == 0 || !strings.Contains(res.stderr, "not a good backup") {
		t.Errorf("verify of a tampered backup: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	dir := filepath.Join(t.TempDir(), "pier-data")
	if res := a.pier("backup", "restore", bad, "--data-dir", dir); res.code == 0 || !strings.Contains(res.stderr, "not a good backup") {
		t.Errorf("restore of a tampered backup: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 0 {
		t.Errorf("a refused restore left %v", ents)
	}
	if res := a.pier("backup", "restore", files[0], "--data-dir", a.dataDir); res.code == 0 || !strings.Contains(res.stderr, "in use") {
		t.Errorf("restore into the running agent's data dir: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
}
