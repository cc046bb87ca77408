package agent

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pierhq/pier/api"
)

// The live deploy view (GET /v1/apps/{app}/deploys/live, the dashboard's
// deploy page): the lines a push shows in `git push`, kept per app for the
// push running now or the last one, and sent to followers as they come.
// Everything is bounded: a feed keeps its last maxFeedLines lines of at
// most maxFeedLine bytes, and a follower that falls feedBuffer lines
// behind is told so and let go rather than slowing the push.

const (
	maxFeedLines = 5000
	maxFeedLine  = 4096
	feedBuffer   = 1024
	// liveDeployTimeout bounds how long one follower is served.
	liveDeployTimeout = 2 * time.Hour
)

// deployFeeds are every app's feed; nil feeds nothing.
type deployFeeds struct {
	mu      sync.Mutex
	byApp   map[string]*deployFeed
	waiting map[string]chan struct{} // closed when app's next push begins
}

// deployFeed is one push's output.
type deployFeed struct {
	fs      *deployFeeds
	app     string
	next    *deployFeed // a push that began while this one ran: shown after it
	lines   []string    // the last maxFeedLines; fs.mu guards the fields
	partial []byte      // the line being written
	end     *api.DeployLine
	subs    map[chan api.DeployLine]struct{}
}

func newDeployFeeds() *deployFeeds {
	return &deployFeeds{byApp: map[string]*deployFeed{}, waiting: map[string]chan struct{}{}}
}

// begin starts app's feed for a push; its Write takes the push's output.
// A push that begins while another runs (and waits for it) is shown once
// that one ended.
func (fs *deployFeeds) begin(app string) *deployFeed {
	f := &deployFeed{fs: fs, app: app, subs: map[chan api.DeployLine]struct{}{}}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if cur := fs.byApp[app]; cur != nil && cur.end == nil {
		for cur.next != nil {
			cur = cur.next
		}
		cur.next = f
		return f
	}
	fs.show(f)
	return f
}

// show makes f its app's feed; fs.mu is held.
func (fs *deployFeeds) show(f *deployFeed) {
	fs.byApp[f.app] = f
	if w := fs.waiting[f.app]; w != nil {
		close(w)
		delete(fs.waiting, f.app)
	}
}

// Write takes output; lines end at \n or \r (git's progress lines).
func (f *deployFeed) Write(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.end != nil {
		return len(p), nil
	}
	for _, b := range p {
		if b == '\n' || b == '\r' {
			f.line()
			continue
		}
		if len(f.partial) < maxFeedLine {
			f.partial = append(f.partial, b)
		}
	}
	return len(p), nil
}

// line ends the partial line; fs.mu is held.
func (f *deployFeed) line() {
	if len(f.partial) == 0 {
		return
	}
	l := strings.ToValidUTF8(string(f.partial), "?")
	f.partial = f.partial[:0]
	f.lines = append(f.lines, l)
	if len(f.lines) > maxFeedLines {
		f.lines = append(f.lines[:0:0], f.lines[len(f.lines)-maxFeedLines:]...)
	}
	f.send(api.DeployLine{Line: l})
}

// send gives every follower d; one whose buffer is full is let go.
func (f *deployFeed) send(d api.DeployLine) {
	for ch := range f.subs {
		select {
		case ch <- d:
		default:
			close(ch)
			delete(f.subs, ch)
		}
	}
}

// finish ends the feed with d; fs.mu is held.
func (f *deployFeed) finish(d api.DeployLine) {
	f.line()
	f.end = &d
	f.send(d)
	for ch := range f.subs {
		close(ch)
	}
	f.subs = nil
}

// done ends the push's feed: live is the release live after it, err why
// it failed.
func (f *deployFeed) done(live int, err error) {
	d := api.DeployLine{Done: true, Live: live}
	if err != nil {
		d.Error = err.Error()
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.end == nil {
		f.finish(d)
	}
	if f.next != nil && f.fs.byApp[f.app] == f {
		f.fs.show(f.next)
	}
}

// follow sends emit app's push running now, from its first line kept, or
// the last one; with none since the agent started it waits for the next.
func (fs *deployFeeds) follow(ctx context.Context, app string, emit func(api.DeployLine) error) error {
	for {
		fs.mu.Lock()
		f := fs.byApp[app]
		if f == nil {
			w := fs.waiting[app]
			if w == nil {
				w = make(chan struct{})
				fs.waiting[app] = w
			}
			fs.mu.Unlock()
			select {
			case <-w:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		past := append([]string{}, f.lines...)
		end := f.end
		var ch chan api.DeployLine
		if end == nil {
			ch = make(chan api.DeployLine, feedBuffer)
			f.subs[ch] = struct{}{}
		}
		fs.mu.Unlock()
		return followFeed(ctx, past, end, ch, emit, func() { fs.unsubscribe(f, ch) })
	}
}

// followFeed emits the lines kept, then what comes on ch until the end.
func followFeed(ctx context.Context, past []string, end *api.DeployLine, ch chan api.DeployLine, emit func(api.DeployLine) error, unsubscribe func()) error {
	defer unsubscribe()
	for _, l := range past {
		if err := emit(api.DeployLine{Line: l}); err != nil {
			return err
		}
	}
	if end != nil {
		return emit(*end)
	}
	for {
		select {
		case d, ok := <-ch:
			if !ok {
				return emit(api.DeployLine{Done: true, Error: "this view fell behind the push: open it again"})
			}
			if err := emit(d); err != nil || d.Done {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (fs *deployFeeds) unsubscribe(f *deployFeed, ch chan api.DeployLine) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	delete(f.subs, ch) // gone already when the feed ended or let it go
}

// getDeployLive answers GET /v1/apps/{app}/deploys/live: the push running
// now (or the last one, or the next) as JSON lines, each flushed, ending
// with one whose done is true.
func (a *Agent) getDeployLive(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), liveDeployTimeout)
	defer cancel()
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	sw := newStreamWriter(w)
	enc := json.NewEncoder(sw)
	// The answer has begun: the follower leaving, or being served long
	// enough, ends it, and there is nothing more to tell.
	_ = a.feeds.follow(ctx, app.Name, func(d api.DeployLine) error { return enc.Encode(d) })
	return nil
}
