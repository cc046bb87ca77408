package proxy

import (
	"context"
	"sync"
	"time"
)

// Vetting: an instance joins its route only after its first passing health
// check in the proxy. A check the deploy's health gate ran through
// Edge.Check counts, so a switch to a gated slot is immediate; any other
// instance of a live slot (a restarted crash, a scaled-up one, one an edge
// sees for the first time) is checked in the background and joins when it
// passes. Once routed, the proxy's active checks (health_check.go) take over.

const (
	vetInterval     = 250 * time.Millisecond // between the checks of a background vetting
	vetPatience     = time.Minute            // after which an instance that keeps failing
	vetSlowInterval = 5 * time.Second        // is checked less often, while it is listed
	// vetGrace keeps a pass that no route set lists yet: the deploy's gate
	// passes instances that the next set will list.
	vetGrace = time.Minute
)

type vetting struct {
	mu       sync.Mutex
	passed   map[string]time.Time // candidate ID -> when it passed
	checking map[string]bool      // candidate IDs being checked in the background
	listed   map[string]bool      // candidate IDs of the last route set
}

func newVetting() vetting {
	return vetting{passed: map[string]time.Time{}, checking: map[string]bool{}, listed: map[string]bool{}}
}

func (v *vetting) pass(id string) {
	v.mu.Lock()
	v.passed[id] = time.Now()
	v.mu.Unlock()
}

func (v *vetting) hasPassed(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	_, ok := v.passed[id]
	return ok
}

// start marks id as being checked; false when it already is.
func (v *vetting) start(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.checking[id] {
		return false
	}
	v.checking[id] = true
	return true
}

func (v *vetting) done(id string) {
	v.mu.Lock()
	delete(v.checking, id)
	v.mu.Unlock()
}

// list takes the candidates of a new route set and drops the passes of
// instances no longer listed.
func (v *vetting) list(listed map[string]bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.listed = listed
	for id, at := range v.passed {
		if !listed[id] && time.Since(at) > vetGrace {
			delete(v.passed, id)
		}
	}
}

// Check runs one health check of c and, when it passes, lets c join its
// route from then on. The deploy's health gate checks through it.
func (e *Edge) Check(ctx context.Context, c Candidate, hc HealthCheck) error {
	if err := CheckHealth(ctx, c.Addr, hc); err != nil {
		return err
	}
	e.vet.pass(c.ID)
	return nil
}

func (v *vetting) isListed(id string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.listed[id]
}

// vetLater checks c in the background until it passes (then the routes are
// built again, with c) or its route set no longer lists it; after
// vetPatience, less often.
func (e *Edge) vetLater(c Candidate, hc HealthCheck) {
	if e.ctx.Err() != nil || !e.vet.start(c.ID) {
		return
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.vet.done(c.ID)
		start := time.Now()
		for e.ctx.Err() == nil && e.vet.isListed(c.ID) {
			if e.Check(e.ctx, c, hc) == nil {
				e.reapply()
				return
			}
			wait := vetInterval
			if time.Since(start) > vetPatience {
				wait = vetSlowInterval
			}
			t := time.NewTimer(wait)
			select {
			case <-e.ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}()
}
