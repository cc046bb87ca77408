//go:build bench

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestBenchAgentMemory deploys BENCH_APPS small apps (default 50: the
// static fixture, whose slug needs no compiler), each blue/green with a
// standby (a push, then a config change), and prints the agent's resident
// memory (VmRSS of its process) before and after, the overhead per app,
// and the Go heap. It asserts no figure; the goal (at most 50 MB with 50
// apps) is printed beside it.
//
//	go test -tags bench -run TestBenchAgentMemory -v ./cmd/pier
func TestBenchAgentMemory(t *testing.T) {
	needE2E(t)
	n := benchEnvInt(t, "BENCH_APPS", 50)
	a := startAgent(t, agentOpts{})
	time.Sleep(2 * time.Second) // let start-up settle
	base := procStatus(t, a.pid(), "VmRSS")
	baseHeap := a.metric("go_memstats_heap_inuse_bytes")

	repo := newRepo(t, "static")
	start := time.Now()
	for i := range n {
		app := fmt.Sprintf("m%02d", i)
		a.mustPier("apps", "create", app)
		repo.remote(a, app, a.token)
		if out, err := repo.push("main"); err != nil {
			t.Fatalf("push to %s: %v\n%s", app, err, out)
		}
		a.mustPier("config", "set", "-a", app, "ROUND=2")
	}
	deployed := time.Since(start)
	for i := range n {
		var info api.App
		a.pierJSON(&info, "apps", "info", "-a", fmt.Sprintf("m%02d", i))
		if info.StandbyRelease == 0 {
			t.Fatalf("m%02d has no standby", i)
		}
	}
	// Every app answered once through the proxy, as a live one would be.
	for i := range n {
		if code, _, _ := a.get(fmt.Sprintf("m%02d", i), "/"); code != 200 {
			t.Fatalf("GET m%02d = %d", i, code)
		}
	}
	time.Sleep(5 * time.Second)
	rss := procStatus(t, a.pid(), "VmRSS")
	anon, file := procStatus(t, a.pid(), "RssAnon"), procStatus(t, a.pid(), "RssFile")
	heap := a.metric("go_memstats_heap_inuse_bytes")
	goroutines := a.metric("go_goroutines")
	fmt.Printf("\nagent memory with %d static apps, each live with a standby (%s to deploy them):\n", n, deployed.Round(time.Second))
	fmt.Printf("  VmRSS: %.1f MB (at start %.1f MB; goal: at most 50 MB with 50 apps)\n", rss/(1<<20), base/(1<<20))
	fmt.Printf("    of which %.1f MB anonymous (heap, stacks, runtime) and %.1f MB of files (the binary's pages, pier.db's map)\n", anon/(1<<20), file/(1<<20))
	fmt.Printf("  per app: %.0f KB of VmRSS, %.0f KB of Go heap in use\n", (rss-base)/float64(n)/1024, (heap-baseHeap)/float64(n)/1024)
	fmt.Printf("  Go heap in use: %.1f MB (at start %.1f MB); goroutines: %.0f\n", heap/(1<<20), baseHeap/(1<<20), goroutines)
}

// procStatus reads a memory line of /proc/PID/status (VmRSS, RssAnon...),
// in bytes.
func procStatus(t *testing.T, pid int, field string) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("%s line %q", field, line)
			}
			return float64(kb) * 1024
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
