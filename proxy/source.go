package proxy

import (
	"context"
	"reflect"
	"sync"
	"time"
)

// RouteSource gives an Edge the routes it should serve: the desired state,
// as the one writer of desired state publishes it. In the agent's process
// it is the agent's route table; an edge on another machine follows the
// same table over the agent's API.
type RouteSource interface {
	// Next blocks until the source holds routes newer than version after
	// (0: any routes at all) and returns them, or returns ctx's error. A
	// consumer asks for what follows the version it has just applied.
	Next(ctx context.Context, after uint64) (RouteSet, error)
}

// RouteSet is every app's desired route at one version.
type RouteSet struct {
	Version uint64
	Routes  []DesiredRoute
}

// DesiredRoute is one app as its source wants it served: the route's
// settings (Route, whose Upstreams the Edge fills), the slot that is live,
// and every instance that could serve it. An Edge sends requests to an
// instance of the live slot only once the instance has passed its health
// check (Route.Health) in the proxy, and not while it drains. With a
// Route.Split, the instances of the split's slot that passed serve too.
type DesiredRoute struct {
	Route
	LiveSlot  string
	Instances []Candidate
}

// Candidate is one running web instance of an app. Instances of other
// slots than the live one are listed too: a check they passed (the deploy's
// health gate) is kept for the moment their slot goes live.
type Candidate struct {
	Upstream
	// ID names one incarnation of the instance: a restart on the same
	// address is a new ID that must pass its check again.
	ID string
	// Draining takes the instance out of rotation while it is being
	// stopped; its check stays passed.
	Draining bool
}

// RouteBoard is a RouteSource in memory: a publisher posts route sets on
// it and Edges follow them. Next also tells the board that its caller has
// applied the version it names, so a publisher can wait until the Edge in
// its process serves what it posted. Watch is for followers that do not
// count (an API handler relaying the board to edges elsewhere): it skips
// versions that changed nothing.
type RouteBoard struct {
	mu      sync.Mutex
	set     RouteSet
	changed uint64        // the version whose routes differ from the one before
	ready   bool          // a set was posted
	posted  chan struct{} // closed at the next Publish
	applied uint64        // the newest version a follower has applied
	ack     chan struct{} // closed when applied grows
}

// NewRouteBoard returns a board with no routes posted yet. Its versions
// start from the clock, so that they keep growing across restarts of the
// publisher for followers in other processes.
func NewRouteBoard() *RouteBoard {
	return &RouteBoard{
		set:    RouteSet{Version: uint64(time.Now().UnixMicro())},
		posted: make(chan struct{}),
		ack:    make(chan struct{}),
	}
}

// Publish posts routes as the next version and returns it.
func (b *RouteBoard) Publish(routes []DesiredRoute) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.ready || !reflect.DeepEqual(routes, b.set.Routes) {
		b.changed = b.set.Version + 1
	}
	b.set = RouteSet{Version: b.set.Version + 1, Routes: routes}
	b.ready = true
	close(b.posted)
	b.posted = make(chan struct{})
	return b.set.Version
}

// Loaded reports whether routes were posted and a follower (the edge in
// the publisher's process) has applied them.
func (b *RouteBoard) Loaded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ready && b.applied > 0
}

// Latest returns the routes posted last (none yet: an empty set).
func (b *RouteBoard) Latest() RouteSet {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.set
}

// Next records that the caller has applied version after and returns the
// posted routes once they are newer.
func (b *RouteBoard) Next(ctx context.Context, after uint64) (RouteSet, error) {
	b.mu.Lock()
	if after > b.applied {
		b.applied = after
		close(b.ack)
		b.ack = make(chan struct{})
	}
	b.mu.Unlock()
	return b.wait(ctx, after, false)
}

// Watch returns the posted routes once they differ from those of version
// after (any routes, for 0).
func (b *RouteBoard) Watch(ctx context.Context, after uint64) (RouteSet, error) {
	return b.wait(ctx, after, true)
}

func (b *RouteBoard) wait(ctx context.Context, after uint64, changes bool) (RouteSet, error) {
	for {
		b.mu.Lock()
		set, ready, posted, since := b.set, b.ready, b.posted, b.set.Version
		if changes {
			since = b.changed
		}
		b.mu.Unlock()
		if ready && since > after {
			return set, nil
		}
		select {
		case <-ctx.Done():
			return RouteSet{}, ctx.Err()
		case <-posted:
		}
	}
}

// Applied waits until a follower has applied version (it asked Next for
// what follows), or ctx ends.
func (b *RouteBoard) Applied(ctx context.Context, version uint64) error {
	for {
		b.mu.Lock()
		done, ack := b.applied >= version, b.ack
		b.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ack:
		}
	}
}
