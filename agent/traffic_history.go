package agent

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

// The history behind the dashboard's graphs, for people with no
// Prometheus: every historyStep the traffic sampler adds a point per app —
// its requests, 5xx and latency per release since the point before, and
// what ran of it then — to a ring of historyPoints (a minute apart: six
// hours of 50 apps take about 2 MB). It lives in memory
// only (a restart starts the graphs again); ops/prometheus keeps more.

const (
	historyKeep   = 6 * time.Hour
	historyStep   = time.Minute
	historyPoints = int(historyKeep / historyStep)
	// recentPoints is the overview's sparklines: the last half hour.
	recentPoints = int(30 * time.Minute / historyStep)
)

// appState is what ran of an app at a sample.
type appState struct {
	up, running int
	memory      int64
	memoryKnown bool
}

// trafficHistory is every app's ring of points.
type trafficHistory struct {
	mu    sync.Mutex
	byApp map[string][]api.MetricsPoint // oldest first, at most historyPoints
}

func newTrafficHistory() *trafficHistory {
	return &trafficHistory{byApp: map[string][]api.MetricsPoint{}}
}

// add records a point per app of states (every app there is) for the
// interval between the readings prev and cur; the rings of apps that are
// gone are dropped.
func (h *trafficHistory) add(prev, cur trafficSample, states map[string]appState) {
	secs := cur.at.Sub(prev.at).Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	for app := range h.byApp {
		if _, ok := states[app]; !ok {
			delete(h.byApp, app)
		}
	}
	for app, st := range states {
		pt := point(cur.at, secs, releasesBetween(app, prev.counts, cur.counts, secs), st)
		ring := append(h.byApp[app], pt)
		if len(ring) > historyPoints {
			ring = append(ring[:0:0], ring[len(ring)-historyPoints:]...)
		}
		h.byApp[app] = ring
	}
}

func point(at time.Time, secs float64, rels []api.ReleaseMetrics, st appState) api.MetricsPoint {
	return api.MetricsPoint{At: at.UTC(), Seconds: secs, Releases: rels,
		Up: st.up, Running: st.running, Memory: st.memory, MemoryKnown: st.memoryKnown}
}

// points returns app's last n points (all of them when n <= 0).
func (h *trafficHistory) points(app string, n int) []api.MetricsPoint {
	if h == nil {
		return []api.MetricsPoint{}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	ring := h.byApp[app]
	if n > 0 && len(ring) > n {
		ring = ring[len(ring)-n:]
	}
	return append([]api.MetricsPoint{}, ring...)
}

// history is app's points, the last n (all when n <= 0), and one more
// from the last sample to now (when it is a second long at least), with
// st, what runs now, and cur, the counters now, so traffic shows at once.
func (s *trafficSampler) history(app string, n int, now time.Time, st appState, cur map[trafficKey]*trafficCounts) []api.MetricsPoint {
	pts := s.hist.points(app, n)
	s.mu.Lock()
	last := s.histAt
	s.mu.Unlock()
	if secs := now.Sub(last.at).Seconds(); !last.at.IsZero() && secs >= 1 {
		pts = append(pts, point(now, secs, releasesBetween(app, last.counts, cur, secs), st))
	}
	return pts
}

// appStates reads what runs of every app, for a sample.
func (a *Agent) appStates() map[string]appState {
	apps, err := a.store.ListApps()
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(a.ctx, scrapeTimeout)
	defer cancel()
	out := make(map[string]appState, len(apps))
	for _, app := range apps {
		out[app.Name] = a.appState(ctx, app.Name)
	}
	return out
}

// appState reads what runs of app.
func (a *Agent) appState(ctx context.Context, app string) appState {
	insts, err := a.sched.Instances(ctx, app)
	if err != nil {
		return appState{}
	}
	if m := measurerOf(a.sched); m != nil {
		m.Measure(ctx, insts)
	}
	return stateOf(insts)
}

// stateOf counts instances up and running, and their memory where it is
// measured.
func stateOf(insts []scheduler.Instance) appState {
	var st appState
	for _, in := range insts {
		switch in.State {
		case api.StateUp:
			st.up++
			st.running++
		case api.StateStarting, api.StateCrashed:
			st.running++
		}
		if in.Memory > 0 {
			st.memory += in.Memory
			st.memoryKnown = true
		}
	}
	return st
}

// getMetricsHistory answers GET /v1/apps/{app}/metrics/history.
func (a *Agent) getMetricsHistory(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.MetricsHistory{App: app.Name, Step: historyStep.Seconds(),
		Points: a.traffic.history(app.Name, 0, time.Now(), a.appState(r.Context(), app.Name), a.traffic.read())})
	return nil
}
