package cli

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestPS(t *testing.T) {
	fa := newFakeAgent(t)
	n := time.Now()
	fa.handle("GET /v1/apps/hello/ps", []api.Instance{
		{App: "hello", Name: "worker.1", Type: "worker", Index: 1, Slot: "blue", Release: 4, State: api.StateUp, StartedAt: n.Add(-90 * time.Minute)},
		{App: "hello", Name: "web.2", Type: "web", Index: 2, Slot: "blue", Release: 4, State: api.StateStarting, Addr: "127.0.0.1:40002"},
		{App: "hello", Name: "web.1", Type: "web", Index: 1, Slot: "blue", Release: 4, State: api.StateUp, Addr: "127.0.0.1:40001", StartedAt: n.Add(-3 * time.Minute)},
	})
	out, _ := mustPier(t, "ps", "-a", "hello")
	want := "" +
		"NAME       SLOT   RELEASE   STATE      UPTIME   ADDRESS\n" +
		"web.1      blue   v4        up         3m       127.0.0.1:40001\n" +
		"web.2      blue   v4        starting   -        127.0.0.1:40002\n" +
		"worker.1   blue   v4        up         1h       -\n"
	if out != want {
		t.Errorf("ps printed\n%s\nwant\n%s", out, want)
	}
	out, _ = mustPier(t, "--json", "ps", "-a", "hello")
	var is []api.Instance
	if err := json.Unmarshal([]byte(out), &is); err != nil || len(is) != 3 || is[0].Name != "web.1" {
		t.Errorf("--json printed %q (%v)", out, err)
	}
}
