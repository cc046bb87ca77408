package cli

import (
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestUsageErrors(t *testing.T) {
	newFakeAgent(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, "unknown command \"frobnicate\""},
		{[]string{"apps", "frobnicate"}, "unknown command \"frobnicate\" (see `pier apps --help`)"},
		{[]string{"apps", "list", "--bogus"}, "flag provided but not defined: -bogus (see `pier apps list --help`)"},
		{[]string{"apps", "create"}, "pier apps create NAME"},
		{[]string{"apps", "create", "hello", "--bogus"}, "put flags first"},
		{[]string{"maintenance", "-a", "hello", "maybe"}, "say on or off"},
	} {
		_, _, err := pier(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pier %v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	out, _ := mustPier(t)
	if !strings.Contains(out, "apps") || !strings.Contains(out, "rollback") {
		t.Errorf("pier with no arguments printed %q, want the help", out)
	}
}

func TestUnauthorizedSaysHowToLogIn(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps", []api.App{})
	t.Setenv("PIER_TOKEN", "")
	_, _, err := pier(t, "apps", "list")
	if err == nil || !strings.Contains(err.Error(), "PIER_TOKEN") || !strings.Contains(err.Error(), "pier login") {
		t.Errorf("a 401: error %v, want one saying to set PIER_TOKEN or run pier login", err)
	}
}

func TestAgentDownSaysWhatToDo(t *testing.T) {
	fa := newFakeAgent(t)
	fa.Close()
	_, _, err := pier(t, "apps", "list")
	if err == nil || !strings.Contains(err.Error(), "is the agent running?") {
		t.Errorf("an agent that is down: %v", err)
	}
}

func TestVersion(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/version", api.Version{Version: "v9.9.9", Scheduler: "local"})
	out, _ := mustPier(t, "version")
	if !strings.Contains(out, "client: pier "+version) || !strings.Contains(out, "agent:  pier v9.9.9") {
		t.Errorf("version printed %q", out)
	}
	fa.Close()
	out, errOut := mustPier(t, "version")
	if !strings.Contains(out, "client: pier") || !strings.Contains(errOut, "agent at") {
		t.Errorf("version with the agent down: stdout %q stderr %q", out, errOut)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	app := newApp(nil, nil)
	for _, c := range []struct{ in, want string }{
		{"pier tokens create ci --role deploy --app shop --expires 90d", "pier tokens create --role deploy --app shop --expires 90d ci"},
		{"pier tokens create ci --role=deploy", "pier tokens create --role=deploy ci"},
		{"pier config set K=V -a shop", "pier config set -a shop K=V"},
		{"pier config set K=-1 -a shop", "pier config set -a shop K=-1"},
		{"pier apps create hello --json", "pier apps create --json hello"},
		{"pier run -a shop -- ls -a /", "pier run -a shop -- ls -a /"},
		{"pier run -- ls -a shop", "pier run -- ls -a shop"},
		{"pier --json apps list", "pier --json apps list"},
		{"pier frobnicate --x", "pier frobnicate --x"},
	} {
		got := strings.Join(interspersed(app, strings.Fields(c.in)), " ")
		if got != c.want {
			t.Errorf("%s\n  read as %s\n  want    %s", c.in, got, c.want)
		}
	}
}
