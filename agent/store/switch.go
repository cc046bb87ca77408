package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// Switch is a switch of an app's live slot to processes that already run
// (a rollback to the standby), written in one transaction, so with one
// sync to disk instead of one per record: the switch is the whole of a
// fast rollback's work.
type Switch struct {
	// Release is created with Vars as its config, numbered by the store.
	Release api.Release
	Vars    map[string]string
	// App changes the app; it is given the new release's version.
	App func(a *api.App, version int) error
	// Statuses sets the status of other releases, by version.
	Statuses map[int]string
	// Events are recorded after the others; each may name the new
	// release through the function, which gets its version.
	Events func(version int) []api.Event
}

// ApplySwitch writes sw: the release, the app, the statuses, the app's
// config (sw.Vars, the live release's) and the events. It returns the
// release and the events as stored.
func (s *Store) ApplySwitch(sw Switch) (api.Release, []api.Event, error) {
	if err := validVars(sw.Vars); err != nil {
		return api.Release{}, nil, err
	}
	r := sw.Release
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	r.ConfigKeys = sortedKeys(sw.Vars)
	var events []api.Event
	err := s.update(func(tx *bolt.Tx) error {
		if err := s.createRelease(tx, &r, sw.Vars); err != nil {
			return fmt.Errorf("creating release of %s: %w", r.App, err)
		}
		if _, err := updateApp(tx, r.App, func(a *api.App) error { return sw.App(a, r.Version) }); err != nil {
			return err
		}
		for v, status := range sw.Statuses {
			if _, err := updateRelease(tx, r.App, v, func(x *api.Release) error { x.Status = status; return nil }); err != nil {
				return fmt.Errorf("marking v%d %s: %w", v, status, err)
			}
		}
		if err := s.setConfig(tx, r.App, sw.Vars); err != nil {
			return err
		}
		events = nil
		if sw.Events != nil {
			events = sw.Events(r.Version)
		}
		for i := range events {
			if err := s.recordEvent(tx, &events[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return api.Release{}, nil, err
	}
	return r, events, nil
}
