package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func testApps() []api.App {
	return []api.App{
		{Name: "web-shop", CreatedAt: time.Now().Add(-3 * time.Hour), WebURL: "http://web-shop.localhost:8080", LiveRelease: 4},
		{Name: "blog", CreatedAt: time.Now().Add(-5 * time.Minute), WebURL: "http://blog.localhost:8080"},
	}
}

func TestAppsListTable(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps", testApps())
	out, _ := mustPier(t, "apps", "list")
	want := "" +
		"NAME       RELEASE   WEB URL                          CREATED\n" +
		"blog       -         http://blog.localhost:8080       5m ago\n" +
		"web-shop   v4        http://web-shop.localhost:8080   3h ago\n"
	if out != want {
		t.Errorf("apps list printed\n%s\nwant\n%s", out, want)
	}
	if r := fa.only(t); r.Auth != "Bearer "+testToken {
		t.Errorf("Authorization = %q", r.Auth)
	}
}

func TestAppsListJSON(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps", testApps())
	for _, args := range [][]string{{"apps", "list", "--json"}, {"--json", "apps", "list"}, {"apps", "--json", "list"}} {
		out, _ := mustPier(t, args...)
		var got []api.App
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("pier %v: not JSON: %v\n%s", args, err, out)
		}
		if len(got) != 2 || got[0].Name != "blog" || got[1].LiveRelease != 4 {
			t.Errorf("pier %v: got %+v", args, got)
		}
	}
	// No apps is an empty list, not null.
	fa.handle("GET /v1/apps", nil)
	out, _ := mustPier(t, "apps", "list", "--json")
	if strings.TrimSpace(out) != "[]" {
		t.Errorf("empty apps list --json = %q, want []", out)
	}
}

func TestAppsCreate(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("POST /v1/apps", api.App{Name: "hello", GitURL: "http://127.0.0.1:7070/git/hello.git", WebURL: "http://hello.localhost:8080"})
	out, errOut := mustPier(t, "apps", "create", "hello")
	var body api.CreateAppRequest
	if err := json.Unmarshal(fa.only(t).Body, &body); err != nil || body.Name != "hello" {
		t.Errorf("request body %s (%v), want name hello", fa.only(t).Body, err)
	}
	for _, s := range []string{"http://127.0.0.1:7070/git/hello.git", "http://hello.localhost:8080"} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout %q lacks %s", out, s)
		}
	}
	if !strings.Contains(errOut, "git remote add deploy http://127.0.0.1:7070/git/hello.git") {
		t.Errorf("stderr %q lacks the next step", errOut)
	}
	out, _ = mustPier(t, "apps", "create", "--json", "hello")
	var a api.App
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.GitURL == "" {
		t.Errorf("--json printed %q (%v)", out, err)
	}
}

func TestAppsDestroyNeedsConfirm(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("DELETE /v1/apps/hello", nil)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"apps", "destroy", "-a", "hello"}, "--confirm hello"},
		{[]string{"apps", "destroy", "-a", "hello", "--confirm", "other"}, `--confirm "other" does not match the app "hello"`},
		{[]string{"apps", "destroy", "hello"}, "--confirm hello"},
		{[]string{"apps", "destroy", "-a", "other", "--confirm", "hello", "hello"}, "-a other and hello name two apps"},
		{[]string{"apps", "destroy", "--confirm", "hello", "hello", "again"}, "give one app"},
	}
	for _, c := range cases {
		_, _, err := pier(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pier %v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
	if rs := fa.requests(); len(rs) != 0 {
		t.Fatalf("refused destroys reached the agent: %+v", rs)
	}
	_, errOut := mustPier(t, "apps", "destroy", "-a", "hello", "--confirm", "hello")
	if r := fa.only(t); r.Method != "DELETE" || r.Path != "/v1/apps/hello" {
		t.Errorf("request %s %s, want DELETE /v1/apps/hello", r.Method, r.Path)
	}
	if !strings.Contains(errOut, "Destroying hello... done") {
		t.Errorf("stderr %q", errOut)
	}
	// Named as an argument, as with Dokku.
	mustPier(t, "apps", "destroy", "--confirm", "hello", "hello")
	if rs := fa.requests(); len(rs) != 2 || rs[1].Method != "DELETE" || rs[1].Path != "/v1/apps/hello" {
		t.Errorf("requests %+v, want a second DELETE /v1/apps/hello", rs)
	}
}

func TestAppsInfo(t *testing.T) {
	fa := newFakeAgent(t)
	app := api.App{Name: "hello", GitURL: "http://h/git/hello.git", WebURL: "http://hello.localhost:8080",
		LiveRelease: 7, LiveSlot: "green", Formation: map[string]int{"worker": 1, "web": 2}, Domains: []string{"a.example.com", "b.example.com"}}
	fa.handle("GET /v1/apps/hello", app)
	out, _ := mustPier(t, "apps", "info", "-a", "hello")
	for _, s := range []string{"=== hello", "v7 in slot green", "web=2 worker=1", "a.example.com, b.example.com"} {
		if !strings.Contains(out, s) {
			t.Errorf("apps info lacks %q:\n%s", s, out)
		}
	}
	out, _ = mustPier(t, "apps", "info", "-a", "hello", "--json")
	var got api.App
	if err := json.Unmarshal([]byte(out), &got); err != nil || !reflect.DeepEqual(got.Formation, app.Formation) {
		t.Errorf("--json printed %q (%v)", out, err)
	}
}

func TestAppsInfoTakesTheAppAsArgument(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps/hello", api.App{Name: "hello", Isolation: "isolated: runs as uid 70000, builds as uid 70001"})
	out, _ := mustPier(t, "apps", "info", "hello")
	if !strings.Contains(out, "=== hello") || !strings.Contains(out, "uid 70000") {
		t.Errorf("pier apps info hello printed %q", out)
	}
	if _, _, err := pier(t, "apps", "info", "-a", "other", "hello"); err == nil || !strings.Contains(err.Error(), "name two apps") {
		t.Errorf("-a other with hello: %v, want a refusal", err)
	}
}
