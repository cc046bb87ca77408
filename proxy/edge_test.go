package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"
	"time"
)

// testEdge is an Edge serving plain HTTP on 127.0.0.1, fed by a board.
type testEdge struct {
	*Edge
	board *RouteBoard
	url   string
	c     *http.Client
}

func newTestEdge(t *testing.T) *testEdge {
	t.Helper()
	board := NewRouteBoard()
	e, err := NewEdge(EdgeConfig{Proxy: Config{Domain: "localhost", Logf: t.Logf}, Source: board, MaxConns: 100})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.Serve(l, nil) }()
	te := &testEdge{Edge: e, board: board, url: "http://" + l.Addr().String(), c: &http.Client{Timeout: 10 * time.Second}}
	t.Cleanup(func() {
		te.c.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
		e.Close()
	})
	return te
}

// publish posts routes and waits until the edge serves them.
func (te *testEdge) publish(t *testing.T, routes ...DesiredRoute) {
	t.Helper()
	v := te.board.Publish(routes)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := te.board.Applied(ctx, v); err != nil {
		t.Fatalf("the edge did not apply version %d: %v", v, err)
	}
}

// get asks for / of app and returns the status and the upstream's name.
func (te *testEdge) get(t *testing.T, app string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", te.url+"/", nil)
	req.Host = app + ".localhost"
	resp, _ := send(t, te.c, req)
	return resp.StatusCode, resp.Header.Get("X-Upstream")
}

func desired(app, live string, cands ...Candidate) DesiredRoute {
	return DesiredRoute{Route: appRoute(app), LiveSlot: live, Instances: cands}
}

func candidate(u *upstream, slot, id string) Candidate {
	return Candidate{Upstream: u.up(slot), ID: id}
}

func TestEdgeRoutesAnInstanceOnlyOnceItPasses(t *testing.T) {
	te := newTestEdge(t)
	u := newUpstream(t, "web.1")
	u.sick.Store(true)
	te.publish(t, desired("app", "blue", candidate(u, "blue", "web.1@1")))
	if code, _ := te.get(t, "app"); code != http.StatusServiceUnavailable {
		t.Fatalf("before its check passed: %d, want 503", code)
	}
	if got := u.hits.Load(); got != 0 {
		t.Fatalf("an unchecked instance got %d requests", got)
	}
	u.sick.Store(false)
	eventually(t, 5*time.Second, "web.1 joins once its check passes", func() bool {
		code, name := te.get(t, "app")
		return code == 200 && name == "web.1"
	})
}

func TestEdgeSwitchesAtOnceToACheckedSlot(t *testing.T) {
	te := newTestEdge(t)
	blue, green := newUpstream(t, "blue.web.1"), newUpstream(t, "green.web.1")
	b, g := candidate(blue, "blue", "b1"), candidate(green, "green", "g1")
	ctx := context.Background()
	if err := te.Check(ctx, b, HealthCheck{}); err != nil {
		t.Fatal(err)
	}
	te.publish(t, desired("app", "blue", b, g))
	if _, name := te.get(t, "app"); name != "blue.web.1" {
		t.Fatalf("live blue: served by %q", name)
	}
	// The deploy's gate checks green through the edge; the switch then
	// routes it without waiting for a check of the edge's own.
	if err := te.Check(ctx, g, HealthCheck{}); err != nil {
		t.Fatal(err)
	}
	te.publish(t, desired("app", "green", b, g))
	for range 5 {
		if code, name := te.get(t, "app"); code != 200 || name != "green.web.1" {
			t.Fatalf("right after the switch: %d from %q, want green.web.1", code, name)
		}
	}
	// A failing check never lets an instance join.
	sick := newUpstream(t, "green.web.2")
	sick.sick.Store(true)
	if err := te.Check(ctx, candidate(sick, "green", "g2"), HealthCheck{}); err == nil {
		t.Fatal("a sick instance passed its check")
	}
}

func TestEdgeKeepsDrainingInstancesOutOfRotation(t *testing.T) {
	te := newTestEdge(t)
	one, two := newUpstream(t, "web.1"), newUpstream(t, "web.2")
	c1, c2 := candidate(one, "blue", "1"), candidate(two, "blue", "2")
	te.publish(t, desired("app", "blue", c1, c2))
	eventually(t, 5*time.Second, "both instances in rotation", func() bool {
		return len(te.Proxy().Healthy("app")) == 2
	})
	c2.Draining = true
	te.publish(t, desired("app", "blue", c1, c2))
	hits := two.hits.Load()
	for range 6 {
		if _, name := te.get(t, "app"); name != "web.1" {
			t.Fatalf("served by %q while web.2 drains", name)
		}
	}
	if two.hits.Load() != hits {
		t.Fatal("a draining instance got requests")
	}
	// Back from draining, it needs no new check.
	c2.Draining = false
	te.publish(t, desired("app", "blue", c1, c2))
	if n := len(te.Proxy().Healthy("app")); n != 2 {
		t.Fatalf("%d instances in rotation after draining ended, want 2", n)
	}
}

func TestRouteBoardNextWaitsForANewerVersion(t *testing.T) {
	b := NewRouteBoard()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Next(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty board: %v, want it to wait", err)
	}
	got := make(chan RouteSet, 1)
	go func() {
		set, _ := b.Next(context.Background(), 0)
		got <- set
	}()
	v := b.Publish([]DesiredRoute{desired("app", "blue")})
	if set := <-got; set.Version != v || len(set.Routes) != 1 {
		t.Fatalf("Next returned %+v, want version %d with one route", set, v)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if err := b.Applied(ctx2, v); err == nil {
		t.Fatal("Applied returned before a follower asked past the version")
	}
	go func() { _, _ = b.Next(context.Background(), v) }()
	ctx3, cancel3 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel3()
	if err := b.Applied(ctx3, v); err != nil {
		t.Fatalf("Applied after the follower asked past it: %v", err)
	}
}

func TestEdgeKeepsTheSlotBeforeUntilTheNewOnePasses(t *testing.T) {
	te := newTestEdge(t)
	blue, green := newUpstream(t, "blue.web.1"), newUpstream(t, "green.web.1")
	b, g := candidate(blue, "blue", "b1"), candidate(green, "green", "g1")
	te.publish(t, desired("app", "blue", b))
	eventually(t, 5*time.Second, "blue in rotation", func() bool {
		_, name := te.get(t, "app")
		return name == "blue.web.1"
	})
	// A switch this edge did not gate: green has not passed here yet, so
	// blue goes on serving rather than the app answering 503.
	green.sick.Store(true)
	te.publish(t, desired("app", "green", b, g))
	for range 5 {
		if code, name := te.get(t, "app"); code != 200 || name != "blue.web.1" {
			t.Fatalf("before green passed: %d from %q, want blue.web.1", code, name)
		}
	}
	green.sick.Store(false)
	eventually(t, 5*time.Second, "green serves once it passed", func() bool {
		_, name := te.get(t, "app")
		return name == "green.web.1"
	})
	// Once green served, a draining or stopped blue is not held over.
	te.publish(t, desired("app", "green", g))
	if _, name := te.get(t, "app"); name != "green.web.1" {
		t.Fatalf("served by %q", name)
	}
}

func TestEdgeChecksTheIdleSlotAhead(t *testing.T) {
	te := newTestEdge(t)
	blue, green := newUpstream(t, "blue.web.1"), newUpstream(t, "green.web.1")
	b, g := candidate(blue, "blue", "b1"), candidate(green, "green", "g1")
	te.publish(t, desired("app", "blue", b, g))
	eventually(t, 5*time.Second, "green checked while idle", func() bool { return green.checks.Load() > 0 })
	if green.hits.Load() != 0 {
		t.Fatal("the idle slot got requests")
	}
	eventually(t, 5*time.Second, "green passed", func() bool { return te.vet.hasPassed("g1") })
	te.publish(t, desired("app", "green", b, g))
	if _, name := te.get(t, "app"); name != "green.web.1" {
		t.Fatalf("right after the switch: served by %q", name)
	}
}

func TestRouteBoardWatchSkipsVersionsThatChangeNothing(t *testing.T) {
	b := NewRouteBoard()
	v1 := b.Publish([]DesiredRoute{desired("app", "blue")})
	set, err := b.Watch(context.Background(), 0)
	if err != nil || set.Version != v1 {
		t.Fatalf("Watch after 0: %+v %v, want version %d", set, err, v1)
	}
	v2 := b.Publish([]DesiredRoute{desired("app", "blue")})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.Watch(ctx, v1); err == nil {
		t.Fatal("Watch returned for a version that changed nothing")
	}
	if set, _ := b.Next(context.Background(), v1); set.Version != v2 {
		t.Fatalf("Next after v1 gave version %d, want %d: the local edge follows every version", set.Version, v2)
	}
	v3 := b.Publish([]DesiredRoute{desired("app", "green")})
	if set, _ := b.Watch(context.Background(), v2); set.Version != v3 {
		t.Fatalf("Watch after a change gave version %d, want %d", set.Version, v3)
	}
}
