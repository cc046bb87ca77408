package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestAppChartsScaleTrafficAndMarkDeploys(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	h := api.MetricsHistory{App: "shop", Step: 15, Points: []api.MetricsPoint{
		{At: t0.Add(15 * time.Second), Seconds: 15, Up: 1, Running: 1,
			Releases: []api.ReleaseMetrics{{Release: "v1", Requests: 30, Errors: 3, P50: 0.002, P95: 0.010}}},
		{At: t0.Add(30 * time.Second), Seconds: 15, Up: 2, Running: 2, Memory: 64 << 20, MemoryKnown: true,
			Releases: []api.ReleaseMetrics{{Release: "v2", Requests: 150, P50: 0.004, P95: 0.020}}},
	}}
	rels := []api.Release{
		{Version: 2, CreatedAt: t0.Add(20 * time.Second)},
		{Version: 1, CreatedAt: t0.Add(-time.Hour)}, // before the window: no marker
	}
	charts := appCharts(h, rels)
	byID := map[string]chart{}
	for _, c := range charts {
		byID[c.ID] = c
	}
	req := byID["requests"]
	if req.MaxLabel != "10/s" || req.Points != 2 || req.Empty != "" {
		t.Errorf("requests: top %q over %d points (%q), want 10/s over 2", req.MaxLabel, req.Points, req.Empty)
	}
	// 2/s at x=300 of 600, a fifth of the way up; 10/s at the top right.
	if got := req.Lines[0].Points; got != "300.0,96.0 600.0,0.0" {
		t.Errorf("requests' polyline = %q", got)
	}
	if len(req.Markers) != 1 || req.Markers[0].Label != "v2" || req.Markers[0].X != "400.0" {
		t.Errorf("deploy markers = %+v, want v2 at x=400", req.Markers)
	}
	if e := byID["errors"]; e.MaxLabel != "10%" {
		t.Errorf("error ratio top = %q, want 10%%", e.MaxLabel)
	}
	lat := byID["latency"]
	var names []string
	for _, l := range lat.Lines {
		names = append(names, l.Name)
	}
	if lat.MaxLabel != "20 ms" || strings.Join(names, ",") != "v1 p50,v1 p95,v2 p50,v2 p95" {
		t.Errorf("latency: top %q, lines %v", lat.MaxLabel, names)
	}
	if in, mem := byID["instances"], byID["memory"]; in.MaxLabel != "2" || mem.MaxLabel != "64 MiB" || mem.Empty != "" {
		t.Errorf("instances top %q, memory top %q (%q)", in.MaxLabel, mem.MaxLabel, mem.Empty)
	}
	h.Points[1].MemoryKnown = false
	if mem := appCharts(h, rels)[4]; mem.Empty == "" {
		t.Error("memory never measured is drawn as zero")
	}
	if appCharts(api.MetricsHistory{}, rels) != nil {
		t.Error("charts without points")
	}
}

func TestSparklines(t *testing.T) {
	if r, e := sparklines(nil); r != nil || e != nil {
		t.Fatal("sparklines without points")
	}
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	r, e := sparklines([]api.MetricsPoint{{At: t0, Seconds: 10, Releases: []api.ReleaseMetrics{{Requests: 25, Errors: 5}}}})
	if r.MaxLabel != "2.5/s" || e.MaxLabel != "20%" || r.W != sparkW {
		t.Errorf("sparklines: %q, %q", r.MaxLabel, e.MaxLabel)
	}
}
