package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/pierhq/pier/api"
)

// TestNamesCannotForgeLogLines tries names holding a newline and a log
// line where they enter: each is refused with 400, and `pier logs` shows
// no forged line.
func TestNamesCannotForgeLogLines(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "hello")
	const forged = "\n2026 app[pier]: Deployed v9"

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		method, path string
		body         any
		want         string
	}{
		{"POST", "/v1/tokens", api.TokenRequest{Name: "ci" + forged}, "control characters"},
		{"POST", "/v1/keys", api.KeyRequest{Name: "laptop" + forged, PublicKey: string(ssh.MarshalAuthorizedKey(sp))}, "control characters"},
		{"POST", "/v1/keys", api.KeyRequest{PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))) + " laptop\r" + forged[1:]}, "control characters"},
		{"POST", "/v1/apps/hello/scale", api.ScaleRequest{Formation: map[string]int{"web" + forged: 1}}, "not a process type"},
		{"POST", "/v1/apps", api.CreateAppRequest{Name: "x" + forged}, "not a valid app name"},
		{"POST", "/v1/apps/hello/domains", api.DomainRequest{Host: "www.example.com" + forged}, "not a valid domain"},
	} {
		code, msg := apiCall(t, a, tc.method, tc.path, tc.body)
		if code != http.StatusBadRequest || !strings.Contains(msg, tc.want) {
			t.Errorf("%s %s with a newline in a name = %d %q, want 400 saying %q", tc.method, tc.path, code, msg, tc.want)
		}
	}
	var app api.App
	a.pierJSON(&app, "apps", "info", "-a", "hello")
	if len(app.Formation) != 0 {
		t.Errorf("a refused scale changed the formation: %v", app.Formation)
	}
	a.mustPier("maintenance", "-a", "hello", "on")
	logs := a.mustPier("logs", "-a", "hello")
	if strings.Contains(logs, "Deployed v9") {
		t.Errorf("pier logs shows a forged line:\n%s", logs)
	}
}

// apiCall sends a JSON request with the admin token and returns the status
// and the error message, if any.
func apiCall(t *testing.T, a *agentProc, method, path string, body any) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, "http://"+a.apiAddr+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	var e api.Error
	_ = json.Unmarshal(out, &e)
	return resp.StatusCode, e.Message
}
