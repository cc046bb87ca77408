package agent

import (
	"sync/atomic"
	"time"
)

// Log lines' time stamps (logTimeFormat) without formatting the date for
// every line: the router writes one per request, and time.Format was a
// third of that line's cost. The clock remembers the last second it
// formatted and appends only the microseconds to it.

// logClock formats the time stamps of the agent's log lines.
var logClock lineClock

type lineClock struct{ last atomic.Pointer[clockSecond] }

// clockSecond is one second, formatted: "2006-01-02T15:04:05" and "-07:00".
type clockSecond struct {
	unix       int64
	loc        *time.Location
	head, zone string
}

// append appends t as logTimeFormat writes it.
func (c *lineClock) append(b []byte, t time.Time) []byte {
	s := c.last.Load()
	if s == nil || s.unix != t.Unix() || s.loc != t.Location() {
		s = &clockSecond{unix: t.Unix(), loc: t.Location(), head: t.Format("2006-01-02T15:04:05"), zone: t.Format("-07:00")}
		c.last.Store(s)
	}
	b = append(b, s.head...)
	us := t.Nanosecond() / 1000
	var frac [7]byte
	frac[0] = '.'
	for i := 6; i > 0; i-- {
		frac[i] = byte('0' + us%10)
		us /= 10
	}
	b = append(b, frac[:]...)
	return append(b, s.zone...)
}
