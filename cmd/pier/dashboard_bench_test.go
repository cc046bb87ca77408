//go:build bench

package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestBenchDashboard times the dashboard's pages as a signed-in browser
// gets them: the apps page with 50 apps, and the page of an app with 200
// releases (BENCH_ROUNDS×10 loads each, default 30). It prints the median
// and the slowest; it asserts no speed. Run it with `make bench`, or:
//
//	go test -tags bench -run TestBenchDashboard -v ./cmd/pier
func TestBenchDashboard(t *testing.T) {
	needE2E(t)
	loads := benchEnvInt(t, "BENCH_ROUNDS", 3) * 10
	a := startAgent(t, agentOpts{})
	cl := api.NewClient("http://"+a.apiAddr, a.token)
	ctx := context.Background()
	for i := range 50 {
		if _, err := cl.CreateApp(ctx, "app"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	// 200 releases: a push, a config change, and rollbacks to the
	// standby (a switch, no start) back and forth.
	repo := newPrebuiltRepo(t, "one")
	repo.remote(a, "app0", a.token)
	mustPush(t, repo, "Released v1")
	a.mustPier("config", "set", "-a", "app0", "K=v")
	for range 198 {
		if _, err := cl.Rollback(ctx, "app0", 0); err != nil {
			t.Fatal(err)
		}
	}
	if rels, _ := cl.Releases(ctx, "app0"); len(rels) < 200 {
		t.Fatalf("app0 has %d releases, want 200", len(rels))
	}
	c := newDashClient(t, a)
	c.mustSignIn(a.token)
	fmt.Printf("\ndashboard pages, %d loads each, signed in as admin:\n", loads)
	for _, page := range []struct{ name, path string }{
		{"apps page, 50 apps", "/dashboard/"},
		{"app page, 200 releases", "/dashboard/apps/app0"},
	} {
		var took []time.Duration
		for range loads {
			start := time.Now()
			if code, _, _ := c.get(page.path); code != http.StatusOK {
				t.Fatalf("%s: %d", page.path, code)
			}
			took = append(took, time.Since(start))
		}
		slices.Sort(took)
		fmt.Printf("  %-24s median %6.1f ms   slowest %6.1f ms\n", page.name, ms(took[len(took)/2]), ms(took[len(took)-1]))
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
