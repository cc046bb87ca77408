package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestDisasterRecovery: a backup of an agent with two apps (one with two
// releases, config vars and a custom domain), restored into a new empty
// data dir with the old secret key, serves the same live releases from
// their slugs (nothing builds), decrypts the config, takes the old admin
// token, and builds the next release on a push.
func TestDisasterRecovery(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	oldToken := a.token
	repos := map[string]*gitRepo{}
	for _, app := range []string{"shop", "blog"} {
		a.mustPier("apps", "create", app)
		r := newPrebuiltRepo(t, "hello")
		r.remote(a, app, a.token)
		mustPush(t, r, "main")
		repos[app] = r
	}
	a.mustPier("config", "set", "-a", "shop", "COLOR=teal", "DATABASE_URL=postgres://s3cr3t@db/shop") // v2
	a.mustPier("domains", "add", "-a", "shop", "www.shop.test")
	live := map[string]string{}
	for app, host := range map[string]string{"shop": "www.shop.test", "blog": "blog.localhost"} {
		code, body, _, err := a.tryGet(host, "/")
		if err != nil || code != 200 {
			t.Fatalf("%s before the backup: %d %v %s", host, code, err, body)
		}
		live[app] = body
	}

	readToken := strings.TrimSpace(a.mustPier("tokens", "create", "--role", "read", "watcher", "--json"))
	var tok api.Token
	if err := json.Unmarshal([]byte(readToken), &tok); err != nil || tok.Secret == "" {
		t.Fatalf("tokens create --json: %v\n%s", err, readToken)
	}
	before := map[string][]api.Release{"shop": releasesOf(t, a, "shop"), "blog": releasesOf(t, a, "blog")}

	backups := t.TempDir()
	res := a.pier("backup", "create", "--to", backups)
	if res.code != 0 || !strings.Contains(res.stderr, "secret key is not in the backup") {
		t.Fatalf("pier backup create: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	files, _ := filepath.Glob(filepath.Join(backups, "pier-backup-*.tar.gz"))
	if len(files) != 1 {
		t.Fatalf("backups in %s: %v", backups, files)
	}
	file := files[0]
	if out := a.mustPier("backup", "list", "--to", backups); !strings.Contains(out, file) {
		t.Errorf("pier backup list does not show %s:\n%s", file, out)
	}
	if out := a.mustPier("backup", "verify", file); !strings.Contains(out, "is good") {
		t.Errorf("pier backup verify: %s", out)
	}
	key, err := os.ReadFile(filepath.Join(a.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}

	// The VM is lost: its agent and apps are gone.
	a.stop()
	killApps(a.dataDir)

	start := time.Now()
	dir := filepath.Join(reachableTempDir(t), "pier-data")
	res = a.pier("backup", "restore", file, "--data-dir", dir)
	if res.code != 0 {
		t.Fatalf("pier backup restore: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startAgent(t, agentOpts{dataDir: dir})
	b.token = oldToken // the old admin token authenticates
	for app, host := range map[string]string{"shop": "www.shop.test", "blog": "blog.localhost"} {
		waitFor(t, 60*time.Second, app+" serving again", func() bool {
			code, body, _, err := b.tryGet(host, "/")
			return err == nil && code == 200 && body == live[app]
		})
	}
	t.Logf("restored and serving in %v", time.Since(start).Round(time.Millisecond))
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

	r := repos["blog"]
	r.remote(b, "blog", oldToken)
	r.rebuild("again")
	mustPush(t, r, "v2")
	waitFor(t, 60*time.Second, "blog v2 serving", func() bool {
		_, body, _, err := b.tryGet("blog.localhost", "/")
		return err == nil && strings.HasPrefix(body, "again from blog v2 ")
	})
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
