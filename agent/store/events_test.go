package store

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestEvents(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog", "shop")
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := 1; i <= 5; i++ {
		if err := s.AppendEvent(api.Event{App: "blog", Type: api.EventDeploySucceeded, Message: fmt.Sprint(i), Time: at}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AppendEvent(api.Event{App: "shop", Type: api.EventScale, Message: "web=2"}); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		limit int
		want  string
	}{
		{0, "12345"}, {-1, "12345"}, {3, "345"}, {1, "5"}, {10, "12345"},
	}
	for _, tt := range tests {
		evs, err := s.Events("blog", tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, e := range evs {
			got += e.Message
		}
		if got != tt.want {
			t.Errorf("Events(blog, %d) = %q, want %q", tt.limit, got, tt.want)
		}
	}
	if evs, _ := s.Events("blog", 1); !evs[0].Time.Equal(at) {
		t.Errorf("event time = %v, want %v", evs[0].Time, at)
	}
	if evs, _ := s.Events("shop", 0); len(evs) != 1 || evs[0].Time.IsZero() {
		t.Errorf("Events(shop) = %+v, want one with its time set", evs)
	}
	if err := s.AppendEvent(api.Event{App: "nope"}); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("AppendEvent(nope) = %v, want ErrAppNotFound", err)
	}
	if _, err := s.Events("nope", 1); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("Events(nope) = %v, want ErrAppNotFound", err)
	}
}

func TestEventsArePruned(t *testing.T) {
	s := newStore(t)
	if s.maxEvents != MaxEvents {
		t.Fatalf("store keeps %d events, want MaxEvents", s.maxEvents)
	}
	const keep = 30
	s.maxEvents = keep // a short history keeps the test fast; the rule is the same
	mustCreateApp(t, s, "blog")
	total := keep + 25
	for i := 1; i <= total; i++ {
		if err := s.AppendEvent(api.Event{App: "blog", Type: api.EventConfigChanged, Message: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := s.Events("blog", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != keep {
		t.Fatalf("kept %d events, want %d", len(evs), keep)
	}
	if first, last := evs[0].Message, evs[len(evs)-1].Message; first != fmt.Sprint(total-keep+1) || last != fmt.Sprint(total) {
		t.Errorf("kept events %s..%s, want %d..%d", first, last, total-keep+1, total)
	}
}
