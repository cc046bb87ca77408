package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFlagOrEnvReadsTheAgentsSettings: an agent flag comes from its
// command line (both forms), else its PIER_* variable, else the default.
func TestFlagOrEnvReadsTheAgentsSettings(t *testing.T) {
	env := []string{"HOME=/root", "PIER_API_ADDR=127.0.0.1:7171"}
	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/bin/pier", "agent"}, "127.0.0.1:7171"},
		{[]string{"/usr/bin/pier", "agent", "--api-addr", "10.0.0.1:7070"}, "10.0.0.1:7070"},
		{[]string{"/usr/bin/pier", "agent", "-api-addr=:7272"}, ":7272"},
	} {
		if got := flagOrEnv(c.argv, env, "api-addr", "127.0.0.1:7070"); got != c.want {
			t.Errorf("flagOrEnv(%q) = %q, want %q", c.argv, got, c.want)
		}
	}
	if got := flagOrEnv([]string{"pier", "agent"}, nil, "api-addr", "127.0.0.1:7070"); got != "127.0.0.1:7070" {
		t.Errorf("the default: %q", got)
	}
}

func TestDialable(t *testing.T) {
	for in, want := range map[string]string{":7070": "127.0.0.1:7070", "0.0.0.0:7070": "127.0.0.1:7070", "[::]:7070": "127.0.0.1:7070", "10.1.2.3:7070": "10.1.2.3:7070"} {
		if got := dialable(in); got != want {
			t.Errorf("dialable(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFindAgentRefusesAStalePidFile: a data dir whose pid file names no
// running process has no agent to upgrade, and says how to go on.
func TestFindAgentRefusesAStalePidFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := findAgent(dir); err == nil || !strings.Contains(err.Error(), "no agent runs on") {
		t.Errorf("no pid file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "pier.pid"), []byte(strconv.Itoa(1<<22+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := findAgent(dir); err == nil || !strings.Contains(err.Error(), "does not run") {
		t.Errorf("a stale pid file: %v", err)
	}
}

// TestFindAgentReadsTheRunningProcess: the pid file of this test process
// gives its binary, its API address from PIER_API_ADDR and the token of
// the data dir.
func TestFindAgentReadsTheRunningProcess(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pier.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "admin.token"), []byte("from-the-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PIER_TOKEN", "")
	a, err := findAgent(dir)
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	if same, _ := sameFile(a.binary, self); !same {
		t.Errorf("binary %q, want this test binary %q", a.binary, self)
	}
	if a.pid != os.Getpid() || a.token != "from-the-file" || !strings.HasPrefix(a.apiURL, "http://") {
		t.Errorf("found %+v", a)
	}
}
