package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestLoginSavesConfig(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/version", api.Version{Version: "v1.2.3"})
	fa.handle("GET /v1/apps", []api.App{{Name: "hello"}})
	t.Setenv("PIER_API", "")
	t.Setenv("PIER_TOKEN", "")
	path := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "pier", "config.json")

	// A wrong token is refused by the agent and saves nothing.
	_, _, err := pier(t, "login", "--api", fa.URL, "--token", "wrong")
	if err == nil || !strings.Contains(err.Error(), "pier login") {
		t.Errorf("login with a bad token: %v", err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("a refused login left %s: %v", path, err)
	}
	if _, _, err := pier(t, "login", "--api", fa.URL); err == nil || !strings.Contains(err.Error(), "--token") {
		t.Errorf("login without a token: %v", err)
	}

	old := stdin
	stdin = strings.NewReader(testToken + "\n")
	t.Cleanup(func() { stdin = old })
	_, errOut := mustPier(t, "login", "--api", fa.URL+"/", "--token", "-")
	if !strings.Contains(errOut, "Logged in to "+fa.URL) || strings.Contains(errOut, testToken) {
		t.Errorf("login said %q", errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	var lc loginConfig
	if err := json.Unmarshal(b, &lc); err != nil || lc != (loginConfig{API: fa.URL, Token: testToken}) {
		t.Errorf("saved %s (%v)", b, err)
	}

	// Later commands use the saved login...
	out, _ := mustPier(t, "apps", "list")
	if !strings.Contains(out, "hello") {
		t.Errorf("apps list after login printed %q", out)
	}
	// ...but the saved token never goes to another agent.
	other := newFakeAgent(t)
	t.Setenv("PIER_TOKEN", "")
	t.Setenv("XDG_CONFIG_HOME", filepath.Dir(filepath.Dir(path)))
	_, _, err = pier(t, "apps", "list")
	if r := other.only(t); r.Auth != "" {
		t.Errorf("the token saved for %s was sent to %s", fa.URL, other.URL)
	}
	if err == nil || !strings.Contains(err.Error(), "PIER_TOKEN") {
		t.Errorf("a call without a token: error %v, want one saying how to log in", err)
	}

	t.Setenv("PIER_API", "")
	_, errOut = mustPier(t, "logout")
	if _, err := os.Stat(path); !os.IsNotExist(err) || !strings.Contains(errOut, "Logged out") {
		t.Errorf("logout left %s (%v), said %q", path, err, errOut)
	}
}
