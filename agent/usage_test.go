package agent

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy"
)

// TestUsageCountsVisitorsWithoutAddresses: visitors are estimated within
// the sketch's error, the counts survive a restart on the same day, a new
// day starts afresh, and no address reaches the store's file.
func TestUsageCountsVisitorsWithoutAddresses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	st, err := store.Open(path, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateApp(api.App{Name: "shop", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	clock := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	u := newUsageCounter(st, t.Logf)
	u.now = now
	u.mu.Lock()
	u.startDay(clock)
	u.mu.Unlock()

	const visitors = 2000
	var ips []string
	for i := range visitors {
		ip := fmt.Sprintf("10.%d.%d.%d", i/65536, (i/256)%256, i%256)
		ips = append(ips, ip)
		for range 2 { // each visitor twice
			u.observe(proxy.RequestLog{App: "shop", ClientIP: ip, Status: 200, Bytes: 100})
		}
	}
	for range 10 {
		u.observe(proxy.RequestLog{App: "shop", ClientIP: ips[0], Status: 404, Bytes: 10})
	}
	u.observe(proxy.RequestLog{App: "", ClientIP: "10.9.9.9", Status: 404}) // no app
	u.flush()

	got, err := u.usage("shop", 7)
	if err != nil || len(got.Days) != 1 {
		t.Fatalf("usage: %+v, %v", got, err)
	}
	d := got.Days[0]
	if d.Day != "2026-03-04" || d.Requests != 2*visitors+10 || d.Bytes != 2*visitors*100+100 {
		t.Errorf("the day: %+v", d)
	}
	if e := math.Abs(float64(d.Visitors)-visitors) / visitors; e > 0.02 {
		t.Errorf("%d visitors estimated as %d (%.1f%% off)", visitors, d.Visitors, 100*e)
	}
	if len(d.Statuses) != 2 || d.Statuses[0] != (api.StatusCount{Code: 200, Count: 2 * visitors}) || d.Statuses[1].Code != 404 {
		t.Errorf("top statuses: %+v", d.Statuses)
	}

	// A restart the same day goes on from the store: the requests add up;
	// the salt is new, so a visitor seen again counts again (at most).
	u2 := newUsageCounter(st, t.Logf)
	u2.now = now
	u2.mu.Lock()
	u2.startDay(clock)
	u2.mu.Unlock()
	u2.observe(proxy.RequestLog{App: "shop", ClientIP: "10.200.0.1", Status: 200})
	if d2, _ := u2.usage("shop", 7); d2.Days[0].Requests != d.Requests+1 || d2.Days[0].Visitors < d.Visitors {
		t.Errorf("after a restart: %+v, before %+v", d2.Days[0], d)
	}
	u2.flush()

	// The next day starts with nothing, and another salt.
	salt := u2.salt
	clock = clock.Add(24 * time.Hour)
	u2.flush()
	if salt == u2.salt || u2.day != "2026-03-05" {
		t.Errorf("the day after: %s, the salt unchanged: %v", u2.day, salt == u2.salt)
	}
	u2.observe(proxy.RequestLog{App: "shop", ClientIP: ips[0], Status: 200})
	u2.flush()
	got, _ = u2.usage("shop", 7)
	if len(got.Days) != 2 || got.Days[0].Day != "2026-03-05" || got.Days[0].Requests != 1 || got.Days[0].Visitors != 1 {
		t.Errorf("two days: %+v", got.Days)
	}

	// A destroyed app's counts go with it.
	if err := st.DeleteApp("shop"); err != nil {
		t.Fatal(err)
	}
	u2.observe(proxy.RequestLog{App: "shop", ClientIP: ips[1], Status: 200})
	u2.flush()
	if _, ok := u2.apps["shop"]; ok {
		t.Error("a destroyed app's counts are kept")
	}

	st.Close()
	db, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, ip := range append(ips, "10.200.0.1") {
		if bytes.Contains(db, []byte(ip)) {
			t.Fatalf("the store's file holds the address %s", ip)
		}
	}
}
