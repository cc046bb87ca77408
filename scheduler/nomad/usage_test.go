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
				"web": {ResourceUsage: &api.ResourceUsage{MemoryStats: &api.MemoryStats{RSS: 40 << 20, Usage: 90 << 20}}},
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
	if ins[1].Memory != 12<<20 {
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
