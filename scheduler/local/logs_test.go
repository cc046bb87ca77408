package local

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// TestCloseEndsStalledFollowers: a followed log nobody reads does not keep
// Close waiting.
func TestCloseEndsStalledFollowers(t *testing.T) {
	s, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s.event("quiet", "web.1 something happened")
	rc, err := s.Logs(context.Background(), "quiet", scheduler.LogOptions{Follow: true})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits for a stalled log follower")
	}
	if _, err := io.ReadAll(rc); err != nil {
		t.Errorf("reading a log ended by Close: %v", err)
	}
}
