package nomad

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// TestMeasure reads instances' memory from the allocation stats API. A
// stand-in for Nomad's HTTP API answers, since a Nomad client cannot run
// in every test environment; the scheduler talks to it through the same
// nomad/api client as to a real cluster. One allocation's client never
// answers: Measure gives up on it in bounded time and measures the rest.
func TestMeasure(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		id := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/client/allocation/"), "/stats")
		switch id {
		case "a1":
			json.NewEncoder(w).Encode(api.AllocResourceUsage{Tasks: map[string]*api.TaskResourceUsage{
				"web": {ResourceUsage: &api.ResourceUsage{MemoryStats: &api.MemoryStats{RSS: 40 << 20, Usage: 90 << 20}, CpuStats: &api.CpuStats{Percent: 50}}},
			}})
		case "a2":
			json.NewEncoder(w).Encode(api.AllocResourceUsage{ResourceUsage: &api.ResourceUsage{MemoryStats: &api.MemoryStats{Usage: 12 << 20}}})
		case "gone":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		default:
			http.Error(w, "unknown allocation", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	c, err := api.NewClient(&api.Config{Address: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	s := &Scheduler{c: c}
	ins := []scheduler.Instance{
		{ID: "a1", Type: "web", State: StateUp, MemoryLimit: 512 << 20},
		{ID: "a2", Type: "worker", State: StateUp},
		{ID: "gone", Type: "web", State: StateUp},
		{ID: "nope", Type: "web", State: StateUp},
		{ID: "a1", Type: "web", State: StateStarting},
	}
	start := time.Now()
	s.Measure(context.Background(), ins)
	if took := time.Since(start); took > usageTimeout+time.Second {
		t.Errorf("Measure took %v with one client not answering; want about %v at most", took, usageTimeout)
	}
	if ins[0].Memory != 40<<20 || ins[0].MemoryLimit != 512<<20 {
		t.Errorf("web.1: memory %d limit %d, want the task's RSS (40 MiB) and its limit kept", ins[0].Memory, ins[0].MemoryLimit)
	}
	if !ins[0].CPUKnown || ins[0].CPU != 0 {
		t.Errorf("web.1's first CPU sample: %v known %v, want 0 seconds, known", ins[0].CPU, ins[0].CPUKnown)
	}
	if ins[1].Memory != 12<<20 || ins[1].CPUKnown {
		t.Errorf("worker: memory %d, want the allocation's usage (12 MiB) when no RSS is reported", ins[1].Memory)
	}
	if ins[2].Memory != 0 || ins[3].Memory != 0 {
		t.Errorf("instances whose client failed were given memory: %d %d", ins[2].Memory, ins[3].Memory)
	}
	if ins[4].Memory != 0 || calls.Load() != 4 {
		t.Errorf("an instance not up was measured (memory %d, %d calls, want 4)", ins[4].Memory, calls.Load())
	}
}

func TestMemoryLimit(t *testing.T) {
	d := testDeployment()
	d.MemoryMB = map[string]int{"web": 512}
	job, err := JobSpec(d, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := memoryLimit(job, "web"); got != 512<<20 {
		t.Errorf("web's limit = %d, want 512 MiB", got)
	}
	if got := memoryLimit(job, "worker"); got != int64(DefaultResources.MemoryMB)<<20 {
		t.Errorf("worker's limit = %d, want the default %d MiB", got, DefaultResources.MemoryMB)
	}
	if got := memoryLimit(job, "cron"); got != 0 {
		t.Errorf("a type the job does not have has limit %d", got)
	}
}

func TestCPUMeter(t *testing.T) {
	var m cpuMeter
	t0 := time.Unix(1_000_000, 0)
	steps := []struct {
		alloc string
		at    time.Duration
		cores float64
		want  float64
	}{
		{"a", 0, 0.5, 0},                          // the first sample counts nothing
		{"a", 10 * time.Second, 0.5, 5},           // half a core for 10 s
		{"b", 10 * time.Second, 2, 0},             // another allocation, apart
		{"a", 25 * time.Second, 1, 20},            // a whole core for 15 s more
		{"a", 5 * time.Minute, 1, 20},             // after a gap: nothing for the gap
		{"a", 5*time.Minute + time.Second, 0, 20}, // idle
		{"b", 30 * time.Minute, 1, 0},             // b was forgotten: starts again
	}
	for i, s := range steps {
		if got := m.add(s.alloc, s.cores, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d: %s at %v = %v CPU seconds, want %v", i, s.alloc, s.at, got, s.want)
		}
	}
	if _, ok := m.seen["a"]; ok {
		t.Error("an allocation not sampled for 25 minutes is still remembered")
	}
}
