package schedulertest

import (
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// WaitTimeout bounds every wait of the suite.
var WaitTimeout = 30 * time.Second

// WaitFor polls cond until it holds, failing the test with what it last
// said after WaitTimeout.
func WaitFor(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: gave up after %s: %s", what, WaitTimeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Slot returns the instances of one slot of the app.
func Slot(t testing.TB, s scheduler.Scheduler, app, slot string) []scheduler.Instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	all, err := s.Instances(ctx, app)
	if err != nil {
		t.Fatalf("Instances(%s): %v", app, err)
	}
	var out []scheduler.Instance
	for _, in := range all {
		if in.Slot == slot {
			out = append(out, in)
		}
	}
	return out
}

// WaitUp waits until the slot runs exactly the formation, every instance
// up, and returns its instances by name ("web.1").
func WaitUp(t testing.TB, s scheduler.Scheduler, app, slot string, f scheduler.Formation) map[string]scheduler.Instance {
	t.Helper()
	var byName map[string]scheduler.Instance
	WaitFor(t, fmt.Sprintf("%s %s to run %v", app, slot, f), func() (bool, string) {
		ins := Slot(t, s, app, slot)
		byName = map[string]scheduler.Instance{}
		count := map[string]int{}
		for _, in := range ins {
			if in.State != "up" {
				return false, fmt.Sprintf("%s is %s; last log lines:\n%s", in.Name(), in.State, lastLogs(s, app))
			}
			byName[in.Name()] = in
			count[in.Type]++
		}
		want := 0
		for typ, n := range f {
			want += n
			if count[typ] != n {
				return false, fmt.Sprintf("%d of %s run, want %d", count[typ], typ, n)
			}
		}
		if len(ins) != want || len(byName) != want {
			return false, fmt.Sprintf("%d instances run, want %d: %v", len(ins), want, ins)
		}
		return true, ""
	})
	return byName
}

// WaitClosed waits until nothing accepts connections on addr.
func WaitClosed(t testing.TB, addr string) {
	t.Helper()
	WaitFor(t, addr+" to stop listening", func() (bool, string) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true, ""
		}
		c.Close()
		return false, "it still accepts connections"
	})
}

// lastLogs returns the app's last log lines, for failure messages.
func lastLogs(s scheduler.Scheduler, app string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := s.Logs(ctx, app, scheduler.LogOptions{Lines: 20})
	if err != nil {
		return err.Error()
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}
