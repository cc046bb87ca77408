package local

import (
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
	"github.com/pierhq/pier/scheduler/schedulertest"
)

func newTestScheduler(t *testing.T, dir string, onChange func(string)) *Scheduler {
	t.Helper()
	s, err := New(Options{Dir: dir, StopTimeout: 2 * time.Second, OnChange: onChange, Logf: t.Logf})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestScheduler(t *testing.T) {
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
		return newTestScheduler(t, t.TempDir(), nil)
	})
}
