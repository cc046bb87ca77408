package agent

import (
	"testing"
	"time"
)

// TestTrafficHistory: every historyStep a point per app holds the
// requests since the point before, whatever the samples between; the
// history ends with the traffic since the last point; a destroyed app's
// ring goes; a ring holds historyPoints.
func TestTrafficHistory(t *testing.T) {
	reg, getPath := shopBehindProxy(t, 3)
	get := func(n int) {
		for range n {
			getPath("/")
		}
	}
	states := map[string]appState{"shop": {up: 1, running: 1}, "blog": {}}
	s := &trafficSampler{gather: reg, hist: newTrafficHistory(), states: func() map[string]appState { return states }}
	t0 := time.Now()
	s.sample(t0)
	get(4)
	s.sample(t0.Add(sampleEvery)) // a sample, no point yet
	get(2)
	s.sample(t0.Add(historyStep))
	get(5)
	s.sample(t0.Add(2 * historyStep))
	get(3)
	pts := s.history("shop", 0, t0.Add(2*historyStep+5*time.Second), appState{up: 2}, s.read())
	if len(pts) != 3 {
		t.Fatalf("%d points, want 2 of the history and the last seconds': %+v", len(pts), pts)
	}
	for i, want := range []float64{6, 5, 3} {
		if len(pts[i].Releases) != 1 || pts[i].Releases[0].Release != "v3" || pts[i].Releases[0].Requests != want {
			t.Errorf("point %d: %+v, want %v requests of v3", i, pts[i].Releases, want)
		}
	}
	if pts[0].Seconds != historyStep.Seconds() || pts[2].Seconds != 5 || pts[0].Up != 1 || pts[2].Up != 2 {
		t.Errorf("points: %+v", pts)
	}
	if got := s.history("shop", 1, t0.Add(2*historyStep), appState{}, s.read()); len(got) != 1 || got[0].Releases[0].Requests != 5 {
		t.Errorf("the last point only: %+v", got)
	}
	if blog := s.hist.points("blog", 0); len(blog) != 2 || len(blog[0].Releases) != 0 {
		t.Errorf("an app without traffic: %+v", blog)
	}
	delete(states, "blog")
	s.sample(t0.Add(3 * historyStep))
	if blog := s.hist.points("blog", 0); len(blog) != 0 {
		t.Errorf("a destroyed app keeps %d points", len(blog))
	}
	prev := trafficSample{at: t0}
	for i := range historyPoints + 10 {
		cur := trafficSample{at: t0.Add(time.Duration(i+1) * sampleEvery)}
		s.hist.add(prev, cur, states)
		prev = cur
	}
	if n := len(s.hist.points("shop", 0)); n != historyPoints {
		t.Errorf("the ring holds %d points, want %d", n, historyPoints)
	}
}
