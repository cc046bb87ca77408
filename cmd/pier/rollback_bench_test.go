//go:build bench

package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestBenchRollback times `pier rollback` to the standby, BENCH_ROLLBACKS
// times (default 20) back and forth, while clients send BENCH_RPS requests
// per second through the proxy: the whole CLI command's wall time (process
// start to exit), beside the same rollback made as an API request in the
// test's process and a pier process that does nothing, and the proxy's switch (the agent's
// pier_route_switch_seconds: building every app's routes and the edge
// serving them). It prints medians and fails on a failed request; the
// goals (20 ms and 1 ms) are printed beside the figures, not asserted.
//
//	go test -tags bench -run TestBenchRollback -v ./cmd/pier
func TestBenchRollback(t *testing.T) {
	needE2E(t)
	n := benchEnvInt(t, "BENCH_ROLLBACKS", 20)
	rps := benchEnvInt(t, "BENCH_RPS", 40)
	a := startAgent(t, agentOpts{})
	b := &deployBench{t: t, a: a, app: "rb", rps: rps, stats: map[string]*benchStat{}}
	a.mustPier("apps", "create", b.app)
	b.repo = newRepo(t, "hello")
	b.repo.remote(a, b.app, a.token)
	b.repo.setGreeting("rb")
	if out, err := b.repo.push("main"); err != nil {
		t.Fatalf("the push: %v\n%s", err, out)
	}
	a.mustPier("config", "set", "-a", b.app, "COLOR=blue")
	waitFor(t, time.Minute, "a standby", func() bool { return b.info().StandbyRelease != 0 })

	l := startBenchLoad(a, b.app+".localhost", rps, benchAnswer{greeting: "rb", color: "blue"}, benchAnswer{greeting: "rb"})
	var wall, sw, apiMS, startMS []float64
	cl := api.NewClient("http://"+a.apiAddr, a.token)
	for i := range 2 * n {
		app := b.info()
		if i%2 == 1 { // the API request alone, on a new connection as the CLI makes
			cl.HTTP = &http.Client{Transport: &http.Transport{}, Timeout: time.Minute}
			start := time.Now()
			if _, err := cl.Rollback(context.Background(), b.app, app.StandbyRelease); err != nil {
				t.Fatalf("rollback through the API: %v", err)
			}
			apiMS = append(apiMS, time.Since(start).Seconds()*1000)
			start = time.Now()
			b.pierOut("--help") // the process alone
			startMS = append(startMS, time.Since(start).Seconds()*1000)
			continue
		}
		count0, sum0 := a.metric("pier_route_switch_seconds_count"), a.metric("pier_route_switch_seconds_sum")
		start := time.Now()
		out, err := b.pierOut("rollback", "-a", b.app, fmt.Sprintf("v%d", app.StandbyRelease))
		took := time.Since(start)
		if err != nil {
			t.Fatalf("rollback %d: %v", i+1, err)
		}
		count, sum := a.metric("pier_route_switch_seconds_count")-count0, a.metric("pier_route_switch_seconds_sum")-sum0
		if count < 1 {
			t.Fatalf("rollback %d switched no routes:\n%s", i+1, out)
		}
		if got := b.info(); got.LiveRelease <= app.LiveRelease || got.LiveSlot == app.LiveSlot {
			t.Fatalf("rollback %d: live v%d in %s, before v%d in %s: not a switch of slots", i+1, got.LiveRelease, got.LiveSlot, app.LiveRelease, app.LiveSlot)
		}
		wall = append(wall, took.Seconds()*1000)
		sw = append(sw, sum/count*1000)
	}
	res := l.stop()
	if res.non200 > 0 || res.sent == 0 {
		t.Errorf("%d requests during the rollbacks, %d failed: %q", res.sent, res.non200, res.samples)
	}
	for _, xs := range [][]float64{wall, sw, apiMS, startMS} {
		slices.Sort(xs)
	}
	fmt.Printf("\n`pier rollback` to the standby, %d times under %d requests/s (%d requests, %d failed):\n", n, rps, res.sent, res.non200)
	fmt.Printf("  CLI wall time:  median %.1f ms, min %.1f, max %.1f (goal: at most 20 ms)\n", benchMedian(wall), wall[0], wall[len(wall)-1])
	fmt.Printf("    of which the API request alone: median %.1f ms; a pier process that asks nothing (--help): median %.1f ms\n", benchMedian(apiMS), benchMedian(startMS))
	fmt.Printf("  proxy switch:   median %.3f ms, min %.3f, max %.3f (goal: under 1 ms)\n", benchMedian(sw), sw[0], sw[len(sw)-1])
}
