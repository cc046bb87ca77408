package cli

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestConfigShowAndGet(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps/hello/config", map[string]string{"ZED": "last", "DATABASE_URL": "postgres://u:p@db/x?a=b", "QUOTE": "it's"})
	fa.handle("GET /v1/apps/hello", api.App{Name: "hello", LostConfig: []string{"API_KEY", "SMTP_PASSWORD"}})
	out, errOut := mustPier(t, "config", "-a", "hello")
	if want := "DATABASE_URL=postgres://u:p@db/x?a=b\nQUOTE=it's\nZED=last\n"; out != want {
		t.Errorf("config printed %q, want %q", out, want)
	}
	if !strings.Contains(errOut, "Undecryptable") || !strings.Contains(errOut, "API_KEY, SMTP_PASSWORD") {
		t.Errorf("config does not name the vars lost with the key on stderr: %q", errOut)
	}
	out, _ = mustPier(t, "config", "-a", "hello", "--shell")
	if !strings.Contains(out, `export QUOTE='it'\''s'`) {
		t.Errorf("--shell printed %q", out)
	}
	out, _ = mustPier(t, "config", "-a", "hello", "--json")
	var m map[string]string
	if err := json.Unmarshal([]byte(out), &m); err != nil || m["ZED"] != "last" {
		t.Errorf("--json printed %q (%v)", out, err)
	}

	out, _ = mustPier(t, "config", "get", "-a", "hello", "DATABASE_URL")
	if out != "postgres://u:p@db/x?a=b\n" {
		t.Errorf("config get printed %q", out)
	}
	out, _, err := pier(t, "config", "get", "-a", "hello", "MISSING")
	var ec ExitCoder
	if !errors.As(err, &ec) || ec.ExitCode() != 1 || out != "" {
		t.Errorf("config get of an unset key: stdout %q, error %v, want exit 1 and nothing printed", out, err)
	}
}

func TestConfigSetUnset(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("PATCH /v1/apps/hello/config", api.Release{Version: 5, Description: "Set FOO, URL"})
	for _, args := range [][]string{{"set", "1FOO=x"}, {"set", "FOO"}, {"set", "FOO-BAR=1"}, {"set"}, {"unset", "A.B"}, {"unset"}} {
		if _, _, err := pier(t, append([]string{"config"}, append(args[:1:1], append([]string{"-a", "hello"}, args[1:]...)...)...)...); err == nil {
			t.Errorf("config %v: no error", args)
		}
	}
	if rs := fa.requests(); len(rs) != 0 {
		t.Fatalf("bad config changes reached the agent: %+v", rs)
	}

	_, errOut := mustPier(t, "config", "set", "-a", "hello", "FOO=bar", "URL=http://x/?a=b=c")
	if !strings.Contains(errOut, "Setting FOO, URL and restarting hello... done, v5") {
		t.Errorf("stderr %q", errOut)
	}
	var body struct{ Vars map[string]*string }
	_ = json.Unmarshal(fa.only(t).Body, &body)
	if body.Vars["FOO"] == nil || *body.Vars["FOO"] != "bar" || body.Vars["URL"] == nil || *body.Vars["URL"] != "http://x/?a=b=c" {
		t.Errorf("config set sent %s", fa.only(t).Body)
	}

	mustPier(t, "config", "unset", "-a", "hello", "FOO", "URL")
	rs := fa.requests()
	var unset map[string]map[string]*string
	_ = json.Unmarshal(rs[1].Body, &unset)
	if want := map[string]*string{"FOO": nil, "URL": nil}; !reflect.DeepEqual(unset["vars"], want) {
		t.Errorf("config unset sent %s, want both keys null", rs[1].Body)
	}
}
