package agent

import (
	"testing"
	"time"
)

func TestLineClockFormatsAsLogTimeFormat(t *testing.T) {
	var c lineClock
	tokyo := time.FixedZone("JST", 9*3600)
	base := time.Date(2026, 3, 29, 0, 59, 59, 999_999_999, time.UTC)
	times := []time.Time{
		base, base.Add(time.Nanosecond), base.Add(1500 * time.Microsecond), base.Add(time.Second),
		base.In(tokyo), base, // the same second in another zone, then back
		time.Date(2026, 1, 1, 0, 0, 0, 7_000, time.Local), time.Date(2026, 1, 1, 0, 0, 0, 0, time.Local),
		time.Now(),
	}
	for _, at := range times {
		if got, want := string(c.append(nil, at)), at.Format(logTimeFormat); got != want {
			t.Errorf("%v: %q, want %q", at, got, want)
		}
	}
}

func BenchmarkLineClock(b *testing.B) {
	var c lineClock
	buf := make([]byte, 0, 64)
	now := time.Now()
	for i := 0; b.Loop(); i++ {
		buf = c.append(buf[:0], now.Add(time.Duration(i)*time.Microsecond))
	}
}
