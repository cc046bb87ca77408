package agent

import (
	"fmt"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// eventLog records platform events: in the store, for `pier events`, and as
// app[pier] lines of the app's log.
type eventLog struct {
	store *store.Store
	logs  *logbook
	logf  func(format string, args ...any)
}

// add records an event of app; actor is who caused it ("" for pier).
func (e *eventLog) add(app, kind, actor, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if err := e.store.AppendEvent(api.Event{Time: time.Now().UTC(), App: app, Kind: kind, Message: msg, Actor: actor}); err != nil {
		e.logf("recording an event of %s: %v", app, err)
	}
	if actor != "" {
		msg += " by " + actor
	}
	e.logs.add(app, "pier", msg)
}
