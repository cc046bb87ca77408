package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRotateKey: pier secrets rotate-key re-encrypts the config under a new
// key; the app keeps serving, the config reads the same before and after a
// restart, the old key opens nothing, and no value is in plain text.
func TestRotateKey(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "vault")
	const secret = "rotate-me-s3cr3t-value"
	a.mustPier("config", "set", "-a", "vault", "SECRET="+secret)
	r := newPrebuiltRepo(t, "vault")
	r.remote(a, "vault", a.token)
	mustPush(t, r, "main")
	a.mustPier("config", "set", "-a", "vault", "OTHER=1") // a second release with a snapshot
	keyFile := filepath.Join(a.dataDir, "secret.key")
	before, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pidBefore := psOf(t, a, "vault")[0].PID

	res := a.pier("secrets", "rotate-key")
	if res.code != 0 || !strings.Contains(res.stderr, "Re-encrypted 4 values") {
		t.Fatalf("pier secrets rotate-key: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	after, _ := os.ReadFile(keyFile)
	if string(after) == string(before) || len(after) == 0 {
		t.Fatal("secret.key did not change")
	}
	if _, err := os.Stat(keyFile + ".next"); err == nil {
		t.Error("secret.key.next is left after the rotation")
	}
	if got := strings.TrimSpace(a.mustPier("config", "get", "-a", "vault", "SECRET")); got != secret {
		t.Errorf("config get SECRET after the rotation = %q", got)
	}
	if code, _, _ := a.get("vault", "/"); code != 200 {
		t.Errorf("the app answered %d after the rotation", code)
	}

	a.stop()
	a.start()
	if got := strings.TrimSpace(a.mustPier("config", "get", "-a", "vault", "SECRET")); got != secret {
		t.Errorf("config get SECRET after a restart = %q", got)
	}
	if pid := psOf(t, a, "vault")[0].PID; pid != pidBefore {
		t.Errorf("the app was started again (pid %d, was %d): the scheduler's state did not open with the new key", pid, pidBefore)
	}
	a.mustPier("rollback", "-a", "vault") // reads the older release's sealed snapshot
	if files := filesHolding(a.dataDir, secret); len(files) > 0 {
		t.Errorf("the config value is in plain text in %v", files)
	}
}
