package cli

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestReleases(t *testing.T) {
	fa := newFakeAgent(t)
	n := time.Now()
	fa.handle("GET /v1/apps/hello/releases", []api.Release{
		{App: "hello", Version: 1, Description: "Deploy 1a2b3c4", Status: api.StatusSuperseded, Commit: "1a2b3c4d5e6f", CreatedBy: "admin", CreatedAt: n.Add(-50 * time.Hour)},
		{App: "hello", Version: 3, Description: "Deploy 9f8e7d6", Status: api.StatusFailed, Reason: "health check timed out", Commit: "9f8e7d6c5b4a", CreatedBy: "ci", CreatedAt: n.Add(-3 * time.Minute)},
		{App: "hello", Version: 2, Description: "Set FOO", Status: api.StatusLive, CreatedBy: "admin", CreatedAt: n.Add(-2 * time.Hour)},
	})
	out, _ := mustPier(t, "releases", "-a", "hello")
	want := "" +
		"  VERSION   STATUS       DESCRIPTION                               BY      WHEN     COMMIT\n" +
		"  v3        failed       Deploy 9f8e7d6 (health check timed out)   ci      3m ago   9f8e7d6\n" +
		"* v2        live         Set FOO                                   admin   2h ago   -\n" +
		"  v1        superseded   Deploy 1a2b3c4                            admin   2d ago   1a2b3c4\n"
	if out != want {
		t.Errorf("releases printed\n%s\nwant\n%s", out, want)
	}
	out, _ = mustPier(t, "releases", "-a", "hello", "--json")
	var rs []api.Release
	if err := json.Unmarshal([]byte(out), &rs); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if len(rs) != 3 || rs[0].Version != 3 || rs[2].Commit != "1a2b3c4d5e6f" {
		t.Errorf("--json releases %+v, want newest first with full commits", rs)
	}
}

func TestRollback(t *testing.T) {
	for _, c := range []struct {
		arg  []string
		want int
	}{{nil, 0}, {[]string{"v3"}, 3}, {[]string{"3"}, 3}} {
		fa := newFakeAgent(t)
		fa.handle("POST /v1/apps/hello/rollback", api.Release{Version: 9, Description: "Rollback to v3"})
		out, errOut := mustPier(t, append([]string{"rollback", "-a", "hello"}, c.arg...)...)
		var body api.RollbackRequest
		if err := json.Unmarshal(fa.only(t).Body, &body); err != nil || body.Version != c.want {
			t.Errorf("rollback %v sent %s, want version %d", c.arg, fa.only(t).Body, c.want)
		}
		if !strings.Contains(errOut, "done, v9") || !strings.Contains(out, "Rollback to v3") {
			t.Errorf("rollback %v: stdout %q stderr %q", c.arg, out, errOut)
		}
	}
	fa := newFakeAgent(t)
	for _, bad := range []string{"vx", "0", "-1x", "v"} {
		if _, _, err := pier(t, "rollback", "-a", "hello", bad); err == nil {
			t.Errorf("rollback %q: no error", bad)
		}
	}
	if rs := fa.requests(); len(rs) != 0 {
		t.Errorf("bad versions reached the agent: %+v", rs)
	}
}
