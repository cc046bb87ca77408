package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

const testPublicKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv4nC8h5XgS0X4c6I2Yb6d6zq3gk8m5Xr0kB1t5Jc2a dev@laptop"

func TestKeysAdd(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("POST /v1/keys", api.Key{Fingerprint: "SHA256:abc", Name: "dev@laptop"})
	dir := t.TempDir()
	pub := filepath.Join(dir, "id_ed25519.pub")
	if err := os.WriteFile(pub, []byte("# my key\n\n"+testPublicKey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut := mustPier(t, "keys", "add", "--role", "deploy", pub)
	var body api.KeyRequest
	if err := json.Unmarshal(fa.only(t).Body, &body); err != nil || body.PublicKey != testPublicKey || body.Name != "dev@laptop" || body.Role != "deploy" || body.Apps != nil {
		t.Errorf("keys add sent %s (%v)", fa.only(t).Body, err)
	}
	if !strings.Contains(errOut, "SHA256:abc") {
		t.Errorf("stderr %q", errOut)
	}

	old := stdin
	stdin = strings.NewReader(testPublicKey + "\n")
	t.Cleanup(func() { stdin = old })
	mustPier(t, "keys", "add", "--name", "ci", "--role", "read", "-")
	_ = json.Unmarshal(fa.requests()[1].Body, &body)
	if body.Name != "ci" || body.PublicKey != testPublicKey || body.Role != "read" {
		t.Errorf("keys add - sent %s", fa.requests()[1].Body)
	}
	stdin = strings.NewReader(testPublicKey + "\n")
	mustPier(t, "keys", "add", "--role", "deploy", "--app", "shop", "--app", "blog", "ci-shop", "-")
	body = api.KeyRequest{}
	_ = json.Unmarshal(fa.requests()[2].Body, &body)
	if body.Name != "ci-shop" || body.Role != "deploy" || strings.Join(body.Apps, ",") != "shop,blog" {
		t.Errorf("keys add NAME - sent %s", fa.requests()[2].Body)
	}
	if _, _, err := pier(t, "keys", "add", pub); err == nil || !strings.Contains(err.Error(), "--role") {
		t.Errorf("keys add without a role: %v, want it to ask for --role", err)
	}

	priv := filepath.Join(dir, "key")
	_ = os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxxx\n"), 0o600)
	for _, f := range []string{priv, filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "missing.pub")} {
		if _, _, err := pier(t, "keys", "add", "--role", "read", f); err == nil {
			t.Errorf("keys add %s: no error", f)
		}
	}
	if n := len(fa.requests()); n != 3 {
		t.Errorf("bad keys reached the agent: %d requests", n)
	}
}

func TestTokens(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("POST /v1/tokens", api.Token{ID: "t7", Name: "ci", Secret: "pier_0123456789", Grant: api.Grant{Role: "deploy", Apps: []string{"shop"}}})
	exp := time.Date(2030, 1, 2, 3, 4, 0, 0, time.Local)
	fa.handle("GET /v1/tokens", []api.Token{
		{ID: "a1", Name: "admin", Grant: api.Grant{Role: "admin"}, CreatedAt: time.Now().Add(-time.Hour)},
		{ID: "t7", Name: "ci", Grant: api.Grant{Role: "deploy", Apps: []string{"shop", "blog"}}, ExpiresAt: &exp, CreatedAt: time.Now().Add(-time.Minute)},
	})
	fa.handle("DELETE /v1/tokens/t7", nil)
	if _, _, err := pier(t, "tokens", "create", "ci"); err == nil || !strings.Contains(err.Error(), "--role") {
		t.Errorf("tokens create without a role: %v, want it to ask for --role", err)
	}
	if _, _, err := pier(t, "tokens", "create", "--role", "deploy", "--expires", "soon", "ci"); err == nil || !strings.Contains(err.Error(), "--expires") {
		t.Errorf("tokens create --expires soon: %v", err)
	}
	out, errOut := mustPier(t, "tokens", "create", "--role", "deploy", "--app", "shop", "--expires", "90d", "ci")
	if out != "pier_0123456789\n" || !strings.Contains(errOut, "not shown again") || strings.Contains(errOut, "pier_0123456789") || !strings.Contains(errOut, "deploy on shop") {
		t.Errorf("tokens create: stdout %q stderr %q", out, errOut)
	}
	var req api.TokenRequest
	if err := json.Unmarshal(fa.requests()[0].Body, &req); err != nil || req.Role != "deploy" || strings.Join(req.Apps, ",") != "shop" || time.Duration(req.ExpiresIn) != 90*24*time.Hour {
		t.Errorf("tokens create sent %s (%v)", fa.requests()[0].Body, err)
	}
	out, _ = mustPier(t, "tokens", "list")
	want := "ID   NAME    ROLE     APPS        EXPIRES            CREATED\n" +
		"a1   admin   admin    all apps    never              1h ago\n" +
		"t7   ci      deploy   shop,blog   2030-01-02 03:04   1m ago\n"
	if out != want {
		t.Errorf("tokens list printed\n%s\nwant\n%s", out, want)
	}
	mustPier(t, "tokens", "revoke", "t7")
	if r := fa.requests()[2]; r.Method != "DELETE" || r.Path != "/v1/tokens/t7" {
		t.Errorf("revoke sent %s %s", r.Method, r.Path)
	}
}

func TestTokensRotateAdmin(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("POST /v1/tokens/rotate-admin", api.Token{ID: "a1", Name: "admin", Secret: "pier_new0123456789"})
	out, errOut := mustPier(t, "tokens", "rotate-admin")
	if out != "pier_new0123456789\n" || !strings.Contains(errOut, "revoked the old one") || strings.Contains(errOut, "pier_new") {
		t.Errorf("tokens rotate-admin: stdout %q stderr %q", out, errOut)
	}
	if r := fa.only(t); r.Method != "POST" || r.Path != "/v1/tokens/rotate-admin" {
		t.Errorf("rotate-admin sent %s %s", r.Method, r.Path)
	}
	if _, _, err := pier(t, "tokens", "rotate-admin", "extra"); err == nil {
		t.Error("rotate-admin took an argument")
	}
}

func TestDomainsAndCerts(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("POST /v1/apps/hello/domains", api.Domain{Host: "www.example.com", App: "hello"})
	fa.handle("DELETE /v1/apps/hello/domains/www.example.com", nil)
	fa.handle("GET /v1/apps/hello/certs", []api.Cert{
		{Host: "www.example.com", Status: "failing", Challenge: "http-01", LastError: "DNS points elsewhere", NextRetry: time.Date(2030, 1, 2, 3, 4, 0, 0, time.Local)},
		{Host: "hello.example.com", Status: "valid", Challenge: "dns-01", Wildcard: "*.example.com", Issuer: "Let's Encrypt", NotAfter: time.Date(2030, 3, 1, 0, 0, 0, 0, time.Local)},
	})
	mustPier(t, "domains", "add", "-a", "hello", "WWW.Example.com.")
	var body api.DomainRequest
	if err := json.Unmarshal(fa.only(t).Body, &body); err != nil || body.Host != "www.example.com" {
		t.Errorf("domains add sent %s", fa.only(t).Body)
	}
	if _, _, err := pier(t, "domains", "add", "-a", "hello", "https://www.example.com/"); err == nil {
		t.Error("a URL was accepted as a host")
	}
	mustPier(t, "domains", "-a", "hello", "remove", "www.example.com")
	out, _ := mustPier(t, "certs", "-a", "hello")
	want := "" +
		"HOST                STATUS    CHALLENGE              ISSUER          EXPIRES      LAST ERROR             NEXT RETRY\n" +
		"hello.example.com   valid     dns-01 *.example.com   Let's Encrypt   2030-03-01   -                      -\n" +
		"www.example.com     failing   http-01                -               -            DNS points elsewhere   2030-01-02 03:04\n"
	if out != want {
		t.Errorf("certs printed\n%s\nwant\n%s", out, want)
	}
}
