package agent

import (
	"testing"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

func TestCrashWatcherTellsCrashesAndOOMKills(t *testing.T) {
	st := newTestStore(t, "blog")
	logs, _ := newLogbook(t.TempDir())
	cw := &crashWatcher{dp: &deployer{events: &eventLog{store: st, logs: logs, logf: t.Logf}}}
	in := scheduler.Instance{App: "blog", Slot: "blue", Release: 3, Type: "web", Index: 2}
	cw.report(in, instanceCounts{}, instanceCounts{})                                // nothing changed
	cw.report(in, instanceCounts{restarts: 1}, instanceCounts{restarts: 2})          // it exited and was restarted
	cw.report(in, instanceCounts{restarts: 2}, instanceCounts{restarts: 3, ooms: 1}) // over its memory limit
	cw.report(in, instanceCounts{restarts: 3}, instanceCounts{restarts: 3, crashed: true})
	es, _ := st.Events("blog", 0)
	var types []string
	for _, e := range es {
		types = append(types, e.Type)
		if e.Data["instance"] != "web.2" || e.Data["release"] != "v3" {
			t.Errorf("event %+v lacks the instance or the release", e)
		}
	}
	want := []string{api.EventInstanceCrashed, api.EventInstanceOOMKilled, api.EventInstanceCrashed}
	if len(types) != 3 || types[0] != want[0] || types[1] != want[1] || types[2] != want[2] {
		t.Errorf("events %v, want %v", types, want)
	}
}
