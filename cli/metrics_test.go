package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestMetrics(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("GET /v1/apps/hello/metrics", api.AppMetrics{App: "hello", Window: 300, Releases: []api.ReleaseMetrics{
		{Release: "v4", Requests: 600, Rate: 2, Errors: 30, P50: 0.0042, P95: 1.5, Total: 900},
		{Release: "v3", Requests: 0, Total: 12},
		{Release: "", Requests: 3, Rate: 0.01, Errors: 3, P50: 0.0004, P95: 0.0009, Total: 3},
	}})
	out, errOut := mustPier(t, "metrics", "-a", "hello")
	want := "" +
		"RELEASE     REQ/S   ERRORS   P50     P95     REQUESTS\n" +
		"v4          2.00    5.0%     4ms     1.50s   600\n" +
		"v3          0.00    -        -       -       0\n" +
		"(refused)   0.01    100.0%   400µs   900µs   3\n"
	if out != want {
		t.Errorf("metrics printed\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(errOut, "The last 5m") {
		t.Errorf("stderr: %q", errOut)
	}
	out, _ = mustPier(t, "metrics", "-a", "hello", "--json")
	var m api.AppMetrics
	if err := json.Unmarshal([]byte(out), &m); err != nil || len(m.Releases) != 3 || m.Releases[0].P95 != 1.5 {
		t.Errorf("--json: %v %+v", err, m)
	}
}
