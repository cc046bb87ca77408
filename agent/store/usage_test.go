package store

import (
	"errors"
	"fmt"
	"testing"
)

func TestUsageKeepsTheLastDays(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "shop")
	for d := 1; d <= 5; d++ {
		rec := UsageRecord{Day: fmt.Sprintf("2026-01-%02d", d), Requests: uint64(d), Statuses: map[int]uint64{200: uint64(d)}, Sketch: []byte{1, 2}}
		if err := s.SaveUsage("shop", rec, 3); err != nil {
			t.Fatal(err)
		}
	}
	// Saving a day again replaces it.
	if err := s.SaveUsage("shop", UsageRecord{Day: "2026-01-05", Requests: 50}, 3); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Usage("shop", 10)
	if err != nil || len(recs) != 3 || recs[0].Day != "2026-01-05" || recs[0].Requests != 50 || recs[2].Day != "2026-01-03" || recs[2].Statuses[200] != 3 {
		t.Fatalf("Usage = %+v, %v; want the last 3 days, newest first", recs, err)
	}
	if recs, _ := s.Usage("shop", 1); len(recs) != 1 || recs[0].Day != "2026-01-05" {
		t.Errorf("Usage of 1 day = %+v", recs)
	}
	if err := s.SaveUsage("nope", UsageRecord{Day: "2026-01-01"}, 3); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("usage of an app that does not exist: %v", err)
	}
	if err := s.DeleteApp("shop"); err != nil {
		t.Fatal(err)
	}
	mustCreateApp(t, s, "shop")
	if recs, err := s.Usage("shop", 10); err != nil || len(recs) != 0 {
		t.Errorf("a new app of a destroyed one's name has usage %+v, %v", recs, err)
	}
}
