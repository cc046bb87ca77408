package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestApplySwitchWritesAllOrNothing(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "pier.db"), testKey(t))
	mustCreateApp(t, s, "blog")
	for range 2 {
		if _, err := s.CreateRelease(api.Release{App: "blog", Status: api.StatusLive}, map[string]string{"A": "1"}); err != nil {
			t.Fatal(err)
		}
	}
	sw := func(fail error) Switch {
		return Switch{
			Release: api.Release{App: "blog", Description: "Rollback to v1", Status: api.StatusLive, Slot: "green"},
			Vars:    map[string]string{"A": "old"},
			App: func(a *api.App, v int) error {
				a.LiveSlot, a.LiveRelease, a.StandbyRelease = "green", v, 2
				return fail
			},
			Statuses: map[int]string{1: api.StatusSuperseded, 2: api.StatusStandby},
			Events: func(v int) []api.Event {
				return []api.Event{{App: "blog", Type: api.EventRollbackManual, Message: "to v1", Data: api.EventData{"release": releaseName(v)}}}
			},
		}
	}
	boom := errors.New("boom")
	if _, _, err := s.ApplySwitch(sw(boom)); !errors.Is(err, boom) {
		t.Fatalf("a failing switch: %v", err)
	}
	if rels, _ := s.ListReleases("blog"); len(rels) != 2 {
		t.Errorf("a failed switch left %d releases, want 2", len(rels))
	}
	if evs, _ := s.Events("blog", 10); len(evs) != 0 {
		t.Errorf("a failed switch left events: %v", evs)
	}

	rel, evs, err := s.ApplySwitch(sw(nil))
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 3 || len(evs) != 1 || evs[0].ID == 0 || evs[0].Data["release"] != "v3" {
		t.Errorf("switch: release v%d, events %+v", rel.Version, evs)
	}
	app, _ := s.GetApp("blog")
	if app.LiveRelease != 3 || app.LiveSlot != "green" || app.StandbyRelease != 2 {
		t.Errorf("app after the switch: %+v", app)
	}
	for v, want := range map[int]string{1: api.StatusSuperseded, 2: api.StatusStandby, 3: api.StatusLive} {
		if r, _ := s.GetRelease("blog", v); r.Status != want {
			t.Errorf("v%d is %s, want %s", v, r.Status, want)
		}
	}
	if cfg, _ := s.Config("blog"); cfg["A"] != "old" {
		t.Errorf("config after the switch: %v", cfg)
	}
	if cfg, _ := s.ReleaseConfig("blog", 3); cfg["A"] != "old" {
		t.Errorf("v3's config: %v", cfg)
	}
}

func releaseName(v int) string { return fmt.Sprintf("v%d", v) }
