package agent

import (
	"cmp"
	"context"
	"errors"
	"hash/maphash"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/axiomhq/hyperloglog"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy"
)

// Usage analytics per app, with no script in the app's pages: the proxy
// tells the counter each request it answered, and the counter keeps, per
// app and day (UTC), the requests, the bytes sent, the status codes and
// the unique visitors. Visitors are an estimate: each client address is
// hashed with the day's salt (a random hash/maphash seed: a keyed hash that
// costs a few nanoseconds on the proxy's path, where HMAC-SHA256 cost 5%
// of the agent's CPU) into a HyperLogLog sketch. The salt lives in memory
// only and is replaced when the day changes, so neither the store nor the
// memory of a later day holds an address or anything an address could be
// tested against. The day's
// figures are saved every usageFlushEvery and at the day's end; usageKeep
// days are kept.

const (
	usageFlushEvery = 30 * time.Second
	usageKeep       = 90 // days
	usageDefault    = 7  // days `pier usage` shows unless asked
	usageTopCodes   = 5
)

// usageToday is one app's count of the day.
type usageToday struct {
	rec    store.UsageRecord // its Sketch is set when saved
	sketch *hyperloglog.Sketch
	dirty  bool
}

// usageCounter counts every app's usage of the day.
type usageCounter struct {
	store *store.Store
	logf  func(string, ...any)
	now   func() time.Time

	mu   sync.Mutex
	day  string
	salt maphash.Seed
	apps map[string]*usageToday // the apps that had requests today
}

func newUsageCounter(st *store.Store, logf func(string, ...any)) *usageCounter {
	u := &usageCounter{store: st, logf: logf, now: time.Now}
	u.mu.Lock()
	u.startDay(u.now())
	u.mu.Unlock()
	return u
}

// startDay forgets the day before and its salt; u.mu is held.
func (u *usageCounter) startDay(now time.Time) {
	u.day = now.UTC().Format(time.DateOnly)
	u.salt = maphash.MakeSeed()
	u.apps = map[string]*usageToday{}
}

// observe counts one request the proxy answered for an app.
func (u *usageCounter) observe(rl proxy.RequestLog) {
	if rl.App == "" {
		return // a host without an app
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	t := u.today(rl.App)
	t.rec.Requests++
	if rl.Bytes > 0 {
		t.rec.Bytes += uint64(rl.Bytes)
	}
	if rl.Status >= 100 && rl.Status < 600 { // so at most 500 codes
		t.rec.Statuses[rl.Status]++
	}
	if rl.ClientIP != "" {
		t.sketch.InsertHash(maphash.String(u.salt, rl.ClientIP))
	}
	t.dirty = true
}

// today is app's count of the day, begun from what the store has of it
// (after a restart); u.mu is held.
func (u *usageCounter) today(app string) *usageToday {
	if t := u.apps[app]; t != nil {
		return t
	}
	t := &usageToday{rec: store.UsageRecord{Day: u.day, Statuses: map[int]uint64{}}, sketch: hyperloglog.New14()}
	if recs, err := u.store.Usage(app, 1); err == nil && len(recs) == 1 && recs[0].Day == u.day {
		t.rec = recs[0]
		if t.rec.Statuses == nil {
			t.rec.Statuses = map[int]uint64{}
		}
		if len(t.rec.Sketch) > 0 && t.sketch.UnmarshalBinary(t.rec.Sketch) != nil {
			t.sketch = hyperloglog.New14()
		}
	}
	u.apps[app] = t
	return t
}

// run saves the counts every usageFlushEvery, and when the day changes
// starts the next one; at the end it saves once more.
func (u *usageCounter) run(ctx context.Context) {
	t := time.NewTicker(usageFlushEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			u.flush()
			return
		case <-t.C:
			u.flush()
		}
	}
}

// flush saves the apps' counts that changed; past midnight it also ends
// the day, and its salt.
func (u *usageCounter) flush() {
	u.mu.Lock()
	recs := map[string]store.UsageRecord{}
	for app, t := range u.apps {
		if t.dirty {
			recs[app] = t.snapshot()
			t.dirty = false
		}
	}
	if day := u.now().UTC().Format(time.DateOnly); day != u.day {
		u.startDay(u.now())
	}
	u.mu.Unlock()
	for app, rec := range recs {
		err := u.store.SaveUsage(app, rec, usageKeep)
		switch {
		case errors.Is(err, store.ErrAppNotFound): // destroyed: its counts go too
			u.mu.Lock()
			delete(u.apps, app)
			u.mu.Unlock()
		case err != nil:
			u.logf("saving the usage of %s: %v", app, err)
		}
	}
}

// snapshot is t's record with its sketch; u.mu is held.
func (t *usageToday) snapshot() store.UsageRecord {
	rec := t.rec
	rec.Statuses = make(map[int]uint64, len(t.rec.Statuses))
	for c, n := range t.rec.Statuses {
		rec.Statuses[c] = n
	}
	rec.Sketch, _ = t.sketch.MarshalBinary()
	return rec
}

// usage is app's last days days: the store's, with today's counts as they
// are now.
func (u *usageCounter) usage(app string, days int) (api.AppUsage, error) {
	recs, err := u.store.Usage(app, days)
	if err != nil {
		return api.AppUsage{}, err
	}
	u.mu.Lock()
	if t := u.apps[app]; t != nil {
		now := t.snapshot()
		if len(recs) > 0 && recs[0].Day == now.Day {
			recs[0] = now
		} else {
			recs = append([]store.UsageRecord{now}, recs...)
		}
	}
	u.mu.Unlock()
	out := api.AppUsage{App: app, Days: []api.UsageDay{}}
	for _, r := range recs[:min(len(recs), days)] {
		out.Days = append(out.Days, usageDay(r))
	}
	return out, nil
}

// usageDay is a record as the API shows it.
func usageDay(r store.UsageRecord) api.UsageDay {
	d := api.UsageDay{Day: r.Day, Requests: r.Requests, Bytes: r.Bytes, Statuses: []api.StatusCount{}}
	sk := hyperloglog.New14()
	if len(r.Sketch) > 0 && sk.UnmarshalBinary(r.Sketch) == nil {
		d.Visitors = sk.Estimate()
	}
	for c, n := range r.Statuses {
		d.Statuses = append(d.Statuses, api.StatusCount{Code: c, Count: n})
	}
	slices.SortFunc(d.Statuses, func(a, b api.StatusCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	d.Statuses = d.Statuses[:min(len(d.Statuses), usageTopCodes)]
	return d
}

// getUsage answers GET /v1/apps/{app}/usage?days=N.
func (a *Agent) getUsage(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	days := usageDefault
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > usageKeep {
			return invalidf("days=%q: give a whole number of days from 1 to %d", s, usageKeep)
		}
		days = n
	}
	u, err := a.usage.usage(app.Name, days)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}
