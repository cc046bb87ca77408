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
	_, errOut := mustPier(t, "keys", "add", pub)
	var body api.KeyRequest
	if err := json.Unmarshal(fa.only(t).Body, &body); err != nil || body.PublicKey != testPublicKey || body.Name != "dev@laptop" {
		t.Errorf("keys add sent %s (%v)", fa.only(t).Body, err)
	}
	if !strings.Contains(errOut, "SHA256:abc") {
		t.Errorf("stderr %q", errOut)
	}

	old := stdin
	stdin = strings.NewReader(testPublicKey + "\n")
	t.Cleanup(func() { stdin = old })
	mustPier(t, "keys", "add", "--name", "ci", "-")
	_ = json.Unmarshal(fa.requests()[1].Body, &body)
	if body.Name != "ci" || body.PublicKey != testPublicKey {
		t.Errorf("keys add - sent %s", fa.requests()[1].Body)
	}

	priv := filepath.Join(dir, "key")
	_ = os.WriteFile(priv, []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nxxx\n"), 0o600)
	for _, f := range []string{priv, filepath.Join(dir, "id_ed25519"), filepath.Join(dir, "missing.pub")} {
		if _, _, err := pier(t, "keys", "add", f); err == nil {
			t.Errorf("keys add %s: no error", f)
		}
	}
	if n := len(fa.requests()); n != 2 {
		t.Errorf("bad keys reached the agent: %d requests", n)
	}
}

func TestTokens(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("POST /v1/tokens", api.Token{ID: "t7", Name: "ci", Secret: "pier_0123456789"})
	fa.handle("GET /v1/tokens", []api.Token{{ID: "t7", Name: "ci", CreatedAt: time.Now().Add(-time.Minute)}})
	fa.handle("DELETE /v1/tokens/t7", nil)
	out, errOut := mustPier(t, "tokens", "create", "ci")
	if out != "pier_0123456789\n" || !strings.Contains(errOut, "not shown again") || strings.Contains(errOut, "pier_0123456789") {
		t.Errorf("tokens create: stdout %q stderr %q", out, errOut)
	}
	out, _ = mustPier(t, "tokens", "list")
	if want := "ID   NAME   CREATED\nt7   ci     1m ago\n"; out != want {
		t.Errorf("tokens list printed %q, want %q", out, want)
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
		{Host: "www.example.com", Status: "failing", LastError: "DNS points elsewhere", NextRetry: time.Date(2030, 1, 2, 3, 4, 0, 0, time.Local)},
		{Host: "hello.example.com", Status: "valid", Issuer: "Let's Encrypt", NotAfter: time.Date(2030, 3, 1, 0, 0, 0, 0, time.Local)},
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
		"HOST                STATUS    ISSUER          EXPIRES      LAST ERROR             NEXT RETRY\n" +
		"hello.example.com   valid     Let's Encrypt   2030-03-01   -                      -\n" +
		"www.example.com     failing   -               -            DNS points elsewhere   2030-01-02 03:04\n"
	if out != want {
		t.Errorf("certs printed\n%s\nwant\n%s", out, want)
	}
}
