package nomad

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"
)

// Backoff between attempts to follow the event stream.
const (
	minWatchBackoff = 500 * time.Millisecond
	maxWatchBackoff = 30 * time.Second
)

// watch follows Nomad's event stream for the allocations, jobs and
// services of pier's jobs and calls OnChange for their apps. After a gap
// (the stream broke) every app with a job is notified, since events may
// have been missed.
func (s *Scheduler) watch(ctx context.Context) {
	if s.opts.OnChange == nil {
		return
	}
	var index uint64
	backoff := minWatchBackoff
	for ctx.Err() == nil {
		start := time.Now()
		err := s.follow(ctx, &index)
		if ctx.Err() != nil {
			return
		}
		s.logf("nomad scheduler: event stream ended: %v; following again in %s", err, backoff)
		s.notifyAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if time.Since(start) > maxWatchBackoff {
			backoff = minWatchBackoff
		} else {
			backoff = min(2*backoff, maxWatchBackoff)
		}
	}
}

// follow reads the event stream from *index until it breaks.
func (s *Scheduler) follow(ctx context.Context, index *uint64) error {
	topics := map[api.Topic][]string{
		api.TopicAllocation: {"*"},
		api.TopicJob:        {"*"},
		api.TopicService:    {"*"},
	}
	q := &api.QueryOptions{Namespace: s.opts.Namespace}
	ch, err := s.c.EventStream().Stream(ctx, topics, *index, q)
	if err != nil {
		return err
	}
	for evs := range ch {
		if evs.Err != nil {
			return evs.Err
		}
		if evs.Index > *index {
			*index = evs.Index
		}
		for _, ev := range evs.Events {
			if app, ok := eventApp(ev); ok {
				s.notify.add(app)
			}
		}
	}
	return ctx.Err()
}

// eventApp returns the app an event of a pier job is about.
func eventApp(ev api.Event) (string, bool) {
	ids := append([]string{ev.Key}, ev.FilterKeys...)
	switch ev.Topic {
	case api.TopicAllocation:
		if a, err := ev.Allocation(); err == nil && a != nil {
			ids = []string{a.JobID}
		}
	case api.TopicService:
		if r, err := ev.Service(); err == nil && r != nil {
			ids = []string{r.JobID}
		}
	}
	for _, id := range ids {
		if app, _, ok := parseJobID(id); ok {
			return app, true
		}
	}
	return "", false
}

// notifyAll notifies every app that has a pier job.
func (s *Scheduler) notifyAll(ctx context.Context) {
	ctx, cancel := callCtx(ctx)
	defer cancel()
	q := query(ctx)
	q.Prefix = jobPrefix
	jobs, _, err := s.c.Jobs().List(q)
	if err != nil {
		return
	}
	for _, j := range jobs {
		if app, _, ok := parseJobID(j.ID); ok {
			s.notify.add(app)
		}
	}
}

// notifier calls fn for each app added, on its own goroutine, coalescing
// the apps added while a call runs.
type notifier struct {
	fn      func(string)
	mu      sync.Mutex
	pending map[string]bool
	wake    chan struct{}
}

func newNotifier(fn func(string)) *notifier {
	return &notifier{fn: fn, pending: map[string]bool{}, wake: make(chan struct{}, 1)}
}

func (n *notifier) add(app string) {
	if n == nil || n.fn == nil || strings.TrimSpace(app) == "" {
		return
	}
	n.mu.Lock()
	n.pending[app] = true
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-n.wake:
		}
		n.mu.Lock()
		apps := sortedKeys(n.pending)
		n.pending = map[string]bool{}
		n.mu.Unlock()
		for _, app := range apps {
			n.fn(app)
		}
	}
}
