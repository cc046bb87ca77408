package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/scheduler"
)

// pingScheduler is a scheduler elsewhere whose Ping fails with err.
type pingScheduler struct {
	scheduler.Scheduler
	err error
}

func (s pingScheduler) Ping(context.Context) error { return s.err }

// TestReadyzSaysWhatIsNotReady: /readyz needs no token, answers 503 until
// the edge has the routes, while the scheduler does not answer and while
// the store is closed, and names the part each time.
func TestReadyzSaysWhatIsNotReady(t *testing.T) {
	a := accessAgent(t)
	a.table = &routeTable{board: proxy.NewRouteBoard()}
	sched := &swapScheduler{s: pingScheduler{}}
	a.sched = sched
	mux := a.routes()
	get := func() (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "routes: not loaded yet") {
		t.Errorf("before the routes: %d %q", code, body)
	}
	v := a.table.board.Publish(nil)
	go a.table.board.Next(context.Background(), v) // the edge applied v
	if err := a.table.board.Applied(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	if code, body := get(); code != http.StatusOK || body != "store: ok\nscheduler: ok\nroutes: ok\n" {
		t.Errorf("ready: %d %q", code, body)
	}
	sched.set(pingScheduler{err: errors.New("Nomad does not answer")})
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.Contains(body, "scheduler: Nomad does not answer") {
		t.Errorf("the scheduler down: %d %q", code, body)
	}
	sched.set(pingScheduler{})
	a.store.Suspend()
	if code, body := get(); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "store: the pier agent is restarting") {
		t.Errorf("the store closed: %d %q", code, body)
	}
}
