package cli

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestAppFromRemote(t *testing.T) {
	good := map[string]string{
		"http://127.0.0.1:7070/git/hello.git":           "hello",
		"http://x:tok@127.0.0.1:7070/git/hello.git":     "hello",
		"https://pier.example.com/git/my-app.git":       "my-app",
		"https://user@pier.example.com/git/my-app.git/": "my-app",
		"ssh://git@pier.example.com:2222/shop.git":      "shop",
		"git@pier.example.com:shop.git":                 "shop",
		"pier.example.com:shop":                         "shop",
	}
	for remote, want := range good {
		if got, err := appFromRemote(remote); err != nil || got != want {
			t.Errorf("appFromRemote(%q) = %q, %v; want %q", remote, got, err, want)
		}
	}
	for _, remote := range []string{"", "/srv/repos", "http://host/", "http://x:hunter2@host/git/.git"} {
		_, err := appFromRemote(remote)
		if err == nil {
			t.Errorf("appFromRemote(%q): no error", remote)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the remote's password: %v", err)
		}
	}
}

// TestAppFromDeployRemote runs in a real git checkout (so it changes the
// working directory and is not parallel).
func TestAppFromDeployRemote(t *testing.T) {
	git := requireBinary(t, "git")
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps/hello/releases", []api.Release{})
	dir := t.TempDir()
	chdir(t, dir)

	_, _, err := pier(t, "releases")
	if err == nil || err.Error() != errNoApp.Error() {
		t.Errorf("outside a checkout: error %v, want %q", err, errNoApp)
	}
	for _, args := range [][]string{{"init", "-q"}, {"remote", "add", "deploy", "http://x:tok@127.0.0.1:7070/git/hello.git"}} {
		if out, err := exec.Command(git, args...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	mustPier(t, "releases")
	if r := fa.only(t); r.Path != "/v1/apps/hello/releases" {
		t.Errorf("releases in a checkout asked for %s, want the app of the deploy remote", r.Path)
	}
	// -a and PIER_APP win over the remote.
	fa.handle("GET /v1/apps/other/releases", []api.Release{})
	mustPier(t, "releases", "-a", "other")
	t.Setenv("PIER_APP", "other")
	mustPier(t, "releases")
	for _, r := range fa.requests()[1:] {
		if r.Path != "/v1/apps/other/releases" {
			t.Errorf("with -a or PIER_APP the CLI asked for %s", r.Path)
		}
	}
}

func chdir(t *testing.T, dir string) {
	t.Helper()
	old, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(old) })
}

// requireBinary returns the path of an external binary, skipping the test
// when it is missing unless PIER_REQUIRE names it.
func requireBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but missing: %v", name, err)
		}
	}
	t.Skipf("%s is not installed: %v", name, err)
	return ""
}
