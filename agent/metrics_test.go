package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pierhq/pier/scheduler"
)

// measuringScheduler lists instances without their usage and fills it in
// only when asked, as Nomad's scheduler does.
type measuringScheduler struct {
	scheduler.Scheduler
	asked *int
}

func (s measuringScheduler) Instances(_ context.Context, app string) ([]scheduler.Instance, error) {
	if app != "shop" {
		return nil, nil
	}
	return []scheduler.Instance{{App: app, Slot: "blue", Release: 3, Type: "web", Index: 1, ID: "alloc-1", State: "up", MemoryLimit: 512 << 20}}, nil
}

func (s measuringScheduler) Measure(_ context.Context, ins []scheduler.Instance) {
	*s.asked++
	for i := range ins {
		ins[i].Memory, ins[i].CPU, ins[i].CPUKnown = 40<<20, 1.5, true
	}
}

// TestScrapeMeasuresInstances: a scrape asks a scheduler that measures
// only when asked, through the agent's swappable scheduler, and exports
// what it measured.
func TestScrapeMeasuresInstances(t *testing.T) {
	a := accessAgent(t)
	a.ctx = context.Background()
	a.dirs = newDirs(t.TempDir())
	asked := 0
	a.sched = &swapScheduler{s: measuringScheduler{asked: &asked}}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(newStateCollector(a))
	want := `
# HELP pier_instance_memory_bytes An instance's memory as last measured: PSS of its processes (local scheduler, instances with a limit) or resident memory (Nomad).
# TYPE pier_instance_memory_bytes gauge
pier_instance_memory_bytes{app="shop",instance="web.1",process_type="web",release="v3",slot="blue"} 4.194304e+07
# HELP pier_instance_memory_limit_bytes The memory limit of an instance's process type.
# TYPE pier_instance_memory_limit_bytes gauge
pier_instance_memory_limit_bytes{app="shop",instance="web.1",process_type="web",release="v3",slot="blue"} 5.36870912e+08
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "pier_instance_memory_bytes", "pier_instance_memory_limit_bytes"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "pier_instance_cpu_seconds_total"); err != nil || n != 1 {
		t.Errorf("%d CPU series (%v), want web.1's", n, err)
	}
	if asked == 0 {
		t.Error("the scrape did not ask the scheduler to measure")
	}
}
