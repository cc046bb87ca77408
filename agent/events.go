package agent

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// eventLog records platform events: in the store (with, in the same
// transaction, their webhook deliveries), for `pier events`, and as
// app[pier] lines of the app's log. Events of the platform itself (app "")
// go to the agent's log instead.
type eventLog struct {
	store *store.Store
	logs  *logbook
	logf  func(format string, args ...any)

	mu      sync.Mutex
	changed chan struct{} // closed when an event is recorded, then replaced
	// notify, when set, is called after each event is recorded: it wakes
	// the webhook sender. observe gets the recorded event (Sentry
	// releases). Neither may block.
	notify  func()
	observe func(api.Event)
}

// add records an event of app of type typ (one of api.EventTypes); actor
// is who caused it ("" for pier).
func (e *eventLog) add(app, typ, actor, format string, args ...any) {
	e.addData(app, typ, actor, nil, format, args...)
}

// addData records an event with data: its facts for programs (release,
// commit, reason, keys...). Values must never be secrets: config changes
// carry key names only.
func (e *eventLog) addData(app, typ, actor string, data api.EventData, format string, args ...any) {
	if e == nil {
		return // a part used without an agent around it (a test's)
	}
	ev := e.event(app, typ, actor, data, format, args...)
	if recorded, err := e.store.RecordEvent(ev); err != nil {
		e.logf("recording an event of %s: %v", app, err)
	} else {
		ev = recorded
	}
	e.recorded(ev)
}

// event makes an event for addData, or for a transaction of the store
// that records it with other changes (then pass it to recorded).
func (e *eventLog) event(app, typ, actor string, data api.EventData, format string, args ...any) api.Event {
	if e != nil && !slices.Contains(api.EventTypes, typ) {
		e.logf("an event of %s has type %q, which is not in api.EventTypes", app, typ)
	}
	if len(data) == 0 {
		data = nil
	}
	return api.Event{Time: time.Now().UTC(), App: app, Type: typ, Message: fmt.Sprintf(format, args...), Actor: actor, Data: data}
}

// recorded tells the event's followers of events the store has recorded:
// the long polls, the webhook sender, Sentry, and the app's log.
func (e *eventLog) recorded(evs ...api.Event) {
	if e == nil || len(evs) == 0 {
		return
	}
	e.mu.Lock()
	if e.changed != nil {
		close(e.changed)
		e.changed = nil
	}
	notify, observe := e.notify, e.observe
	e.mu.Unlock()
	if notify != nil {
		notify()
	}
	for _, ev := range evs {
		if observe != nil {
			observe(ev)
		}
		msg := ev.Message
		if ev.Actor != "" {
			msg += " by " + ev.Actor
		}
		if ev.App == "" {
			e.logf("%s", msg)
			continue
		}
		e.logs.add(ev.App, "pier", msg)
	}
}

// wait returns a channel closed when the next event is recorded.
func (e *eventLog) wait() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.changed == nil {
		e.changed = make(chan struct{})
	}
	return e.changed
}

// since returns app's events after the given id; when there are none it
// waits for one up to wait (or until ctx is done): a long poll.
func (e *eventLog) since(ctx context.Context, app string, after uint64, limit int, wait time.Duration) ([]api.Event, error) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	for {
		changed := e.wait()
		es, err := e.store.EventsAfter(app, after, limit)
		if err != nil || len(es) > 0 || wait <= 0 {
			return es, err
		}
		select {
		case <-changed:
		case <-timeout:
			return es, nil
		case <-ctx.Done():
			return es, nil
		}
	}
}

// releaseName is how events name a release: "v7".
func releaseName(version int) string { return fmt.Sprintf("v%d", version) }

// releaseData are the facts of an event about a release.
func releaseData(rel api.Release, slot string) api.EventData {
	d := api.EventData{"release": releaseName(rel.Version), "description": rel.Description}
	if rel.Commit != "" {
		d["commit"] = rel.Commit
	}
	if slot != "" {
		d["slot"] = slot
	}
	return d
}

// releaseCreated records that rel was made.
func (dp *deployer) releaseCreated(rel api.Release) {
	dp.events.addData(rel.App, api.EventReleaseCreated, rel.CreatedBy, releaseData(rel, ""), "Release v%d created (%s)", rel.Version, rel.Description)
}
