package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

// TestRevokedAdminTokenStaysRevoked revokes the admin token with another
// token, restarts the agent, which reads admin.token again, and checks the
// revoked token stays refused; then rotate-admin writes a new one.
func TestRevokedAdminTokenStaysRevoked(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	old := a.token
	var second api.Token
	if err := json.Unmarshal([]byte(a.mustPier("tokens", "create", "--role", "admin", "--json", "second")), &second); err != nil || second.Secret == "" {
		t.Fatalf("tokens create --json: %+v, %v", second, err)
	}
	var ts []api.Token
	a.pierJSON(&ts, "tokens", "list")
	var adminID string
	for _, tk := range ts {
		if tk.Name == "admin" {
			adminID = tk.ID
		}
	}
	a.token = second.Secret
	a.mustPier("tokens", "revoke", adminID)
	if code := apiStatus(t, a, old); code != http.StatusUnauthorized {
		t.Fatalf("the revoked admin token: GET /v1/apps = %d, want 401", code)
	}

	a.stop()
	a.start() // reads admin.token into a.token
	if a.token != old {
		t.Fatalf("admin.token changed on restart")
	}
	if code := apiStatus(t, a, old); code != http.StatusUnauthorized {
		t.Fatalf("after a restart the revoked admin token: GET /v1/apps = %d, want 401", code)
	}
	if !strings.Contains(a.logs(), "the admin token was revoked") {
		t.Errorf("the agent did not say that its admin token is revoked:\n%s", a.logs())
	}

	a.token = second.Secret
	r := a.pier("tokens", "rotate-admin")
	if r.code != 0 {
		t.Fatalf("tokens rotate-admin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fresh := strings.TrimSpace(r.stdout)
	b, err := os.ReadFile(filepath.Join(a.dataDir, "admin.token"))
	if err != nil || strings.TrimSpace(string(b)) != fresh {
		t.Fatalf("admin.token = %q, %v; want the new secret %q", b, err, fresh)
	}
	if st, err := os.Stat(filepath.Join(a.dataDir, "admin.token")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode = %v, %v; want 0600", st.Mode(), err)
	}
	if code := apiStatus(t, a, fresh); code != http.StatusOK {
		t.Fatalf("the rotated admin token: GET /v1/apps = %d, want 200", code)
	}

	// Rotating again revokes the rotated one; the old file's secret stays out.
	a.token = fresh
	r = a.pier("tokens", "rotate-admin")
	if r.code != 0 {
		t.Fatalf("second tokens rotate-admin: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	newest := strings.TrimSpace(r.stdout)
	a.stop()
	a.start()
	if a.token != newest {
		t.Fatalf("admin.token after a restart is not the newest secret")
	}
	for secret, want := range map[string]int{old: 401, fresh: 401, newest: 200, second.Secret: 200} {
		if code := apiStatus(t, a, secret); code != want {
			t.Errorf("after rotations and a restart, token %s...: GET /v1/apps = %d, want %d", secret[:9], code, want)
		}
	}
}

// apiStatus is the status of GET /v1/apps with token.
func apiStatus(t *testing.T, a *agentProc, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+a.apiAddr+"/v1/apps", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/apps: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
