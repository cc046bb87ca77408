package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

// TestCIDeployToken is the CI token of issue 16: a deploy token for shop
// pushes shop, cannot push blog, cannot make tokens and cannot revoke the
// admin token; a deploy key for shop likewise over SSH. The audit log then
// holds each change, attributed, and no secret.
func TestCIDeployToken(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	admin := a.token
	a.mustPier("apps", "create", "shop")
	a.mustPier("apps", "create", "blog")
	shareGoBuildCache(t, a, "shop")

	var ci api.Token
	mustJSON(t, a.mustPier("tokens", "create", "--json", "--role", "deploy", "--app", "shop", "--expires", "90d", "ci"), &ci)
	if ci.Secret == "" || ci.Role != "deploy" || strings.Join(ci.Apps, ",") != "shop" || ci.ExpiresAt == nil {
		t.Fatalf("tokens create = %+v", ci)
	}
	var reader api.Token
	mustJSON(t, a.mustPier("tokens", "create", "--json", "--role", "read", "dashboard"), &reader)
	var ts []api.Token
	a.pierJSON(&ts, "tokens", "list")
	var adminID string
	for _, tk := range ts {
		if tk.Name == "admin" {
			adminID = tk.ID
			if tk.Role != "admin" {
				t.Errorf("the admin token has role %q", tk.Role)
			}
		}
	}

	// What the CI token may do.
	a.token = ci.Secret
	var apps []api.App
	a.pierJSON(&apps, "apps", "list")
	if len(apps) != 1 || apps[0].Name != "shop" {
		t.Errorf("apps list with the CI token = %+v, want shop alone", apps)
	}
	repo := newRepo(t, "hello")
	repo.remote(a, "shop", ci.Secret)
	if out, err := repo.push("main"); err != nil || !strings.Contains(out, "Released v1") {
		t.Fatalf("the CI token's push of shop: %v\n%s", err, out)
	}
	const secretValue = "hunter2-do-not-log"
	a.mustPier("config", "set", "-a", "shop", "API_KEY="+secretValue)

	// What it may not.
	repo.remote(a, "blog", ci.Secret)
	if out, err := repo.push("main"); err == nil || !strings.Contains(out, `app "blog" does not exist`) {
		t.Errorf("the CI token's push of blog: %v\n%s", err, out)
	}
	if r := a.pier("tokens", "create", "--role", "admin", "evil"); r.code == 0 || !strings.Contains(r.stderr, "needs admin") {
		t.Errorf("the CI token made a token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := a.pier("tokens", "revoke", adminID); r.code == 0 || !strings.Contains(r.stderr, "needs admin") {
		t.Errorf("the CI token revoked the admin token: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := a.pier("config", "-a", "blog"); r.code == 0 || !strings.Contains(r.stderr, `app "blog" not found`) {
		t.Errorf("the CI token read blog's config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if code := apiStatus(t, a, admin); code != http.StatusOK {
		t.Errorf("the admin token after the CI token's tries: %d, want 200", code)
	}

	// A read token looks but neither reads config values nor pushes.
	a.token = reader.Secret
	a.mustPier("releases", "-a", "shop")
	if r := a.pier("config", "-a", "shop"); r.code == 0 || strings.Contains(r.stdout, secretValue) || !strings.Contains(r.stderr, "needs deploy") {
		t.Errorf("a read token read config: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	repo.remote(a, "shop", reader.Secret)
	if out, err := repo.push("main"); err == nil || !strings.Contains(out, "needs deploy") {
		t.Errorf("a read token's push: %v\n%s", err, out)
	}

	// A deploy key of shop, over SSH.
	a.token = admin
	sshKey := ""
	if _, err := exec.LookPath("ssh"); err == nil {
		sshKey = filepath.Join(t.TempDir(), "id_ed25519")
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci-key", "-f", sshKey).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
		a.mustPier("keys", "add", "--role", "deploy", "--app", "shop", "ci-key", sshKey+".pub")
		repo.git("config", "core.sshCommand", "ssh -i "+sshKey+" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR")
		_, _ = repo.tryGit("remote", "remove", "deploy")
		repo.git("remote", "add", "deploy", "ssh://git@"+a.sshAddr+"/blog.git")
		if out, err := repo.push("main"); err == nil || !strings.Contains(out, `app "blog" does not exist`) {
			t.Errorf("the shop key's push of blog: %v\n%s", err, out)
		}
		repo.git("remote", "set-url", "deploy", "ssh://git@"+a.sshAddr+"/shop.git")
		repo.commit("over ssh")
		if out, err := repo.push("main"); err != nil || !strings.Contains(out, "Released v3") {
			t.Errorf("the shop key's push of shop: %v\n%s", err, out)
		}
	} else {
		t.Log("ssh is not installed: the SSH part is skipped")
	}

	// The audit log, read by the admin.
	out := a.mustPier("audit", "--json")
	var es []api.AuditEntry
	if err := json.Unmarshal([]byte(out), &es); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, out)
	}
	find := func(who, action, app string, status int) bool {
		for _, e := range es {
			if e.Who == who && e.Action == action && e.App == app && e.Status == status && e.ClientIP == "127.0.0.1" && !e.Time.IsZero() {
				return true
			}
		}
		return false
	}
	for _, w := range []struct {
		who, action, app string
		status           int
	}{
		{"admin", "POST /v1/apps", "shop", 201},
		{"admin", "POST /v1/tokens", "", 201},
		{"ci", "git push", "shop", 200},
		{"ci", "PATCH /v1/apps/{app}/config", "shop", 200},
		{"ci", "POST /v1/tokens", "", 403},
		{"ci", "DELETE /v1/tokens/{id}", "", 403},
	} {
		if !find(w.who, w.action, w.app, w.status) {
			t.Errorf("the audit log has no %s by %s on %q with %d:\n%s", w.action, w.who, w.app, w.status, out)
		}
	}
	if sshKey != "" && !find("ci-key", "git push", "shop", 0) {
		t.Errorf("the audit log has no push over SSH by ci-key:\n%s", out)
	}
	for _, e := range es {
		if e.Who == "ci" && e.Role != "deploy" || e.Who == "admin" && e.Role != "admin" {
			t.Errorf("audit entry with the wrong role: %+v", e)
		}
	}
	db, _ := os.ReadFile(filepath.Join(a.dataDir, "pier.db"))
	for _, secret := range []string{secretValue, ci.Secret, reader.Secret, admin} {
		if strings.Contains(out, secret) || strings.Contains(string(db), secret) {
			t.Errorf("a secret (%.9s...) is in the audit log or the database", secret)
		}
	}
	if r := a.pier("audit", "-a", "shop", "--since", "1h"); r.code != 0 || !strings.Contains(r.stdout, "token:ci") || strings.Contains(r.stdout, "blog") {
		t.Errorf("audit -a shop: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	a.token = ci.Secret
	if r := a.pier("audit"); r.code == 0 || !strings.Contains(r.stderr, "needs admin") {
		t.Errorf("the CI token read the audit log: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func mustJSON(t *testing.T, out string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("not a JSON document: %v\n%s", err, out)
	}
}
