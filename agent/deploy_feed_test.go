package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// collect follows app's feed in a goroutine of the test; its lines come
// on the channel, which closes when follow returns.
func collect(t *testing.T, fs *deployFeeds, app string) <-chan api.DeployLine {
	out := make(chan api.DeployLine, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	go func() {
		defer close(out)
		_ = fs.follow(ctx, app, func(d api.DeployLine) error { out <- d; return nil })
	}()
	return out
}

func next(t *testing.T, ch <-chan api.DeployLine) api.DeployLine {
	t.Helper()
	select {
	case d := <-ch:
		return d
	case <-time.After(5 * time.Second):
		t.Fatal("no line came")
	}
	return api.DeployLine{}
}

// TestDeployFeedFollowsAPush: a follower that came before the push gets
// its lines as they are written, then how it ended; one that comes after
// gets the same from the lines kept.
func TestDeployFeedFollowsAPush(t *testing.T) {
	fs := newDeployFeeds()
	early := collect(t, fs, "shop") // no push yet: waits for the next
	time.Sleep(50 * time.Millisecond)
	f := fs.begin("shop")
	fmt.Fprint(f, "-----> Building shop\nprogress 50%\rprogress 100%\n")
	for _, want := range []string{"-----> Building shop", "progress 50%", "progress 100%"} {
		if d := next(t, early); d.Line != want || d.Done {
			t.Fatalf("line %+v, want %q", d, want)
		}
	}
	io.WriteString(f, "-----> Released v2")
	f.done(2, nil)
	if d := next(t, early); d.Line != "-----> Released v2" {
		t.Fatalf("the unfinished last line: %+v", d)
	}
	if d := next(t, early); !d.Done || d.Live != 2 || d.Error != "" {
		t.Fatalf("the end: %+v", d)
	}
	var late []string
	for d := range collect(t, fs, "shop") {
		late = append(late, fmt.Sprintf("%s|%v|%d", d.Line, d.Done, d.Live))
	}
	if got := strings.Join(late, " "); got != "-----> Building shop|false|0 progress 50%|false|0 progress 100%|false|0 -----> Released v2|false|0 |true|2" {
		t.Errorf("a follower after the push got %q", got)
	}

	g := fs.begin("shop")
	fmt.Fprintln(g, "-----> Building shop")
	g.done(2, errors.New("build failed: exit status 1"))
	var end api.DeployLine
	for d := range collect(t, fs, "shop") {
		end = d
	}
	if !end.Done || end.Error != "build failed: exit status 1" {
		t.Errorf("a failed push ends with %+v", end)
	}
}

// TestDeployFeedQueuesAPushThatWaits: a push that begins while another
// runs is shown once that one ended, with what it wrote meanwhile.
func TestDeployFeedQueuesAPushThatWaits(t *testing.T) {
	fs := newDeployFeeds()
	first := fs.begin("shop")
	fmt.Fprintln(first, "-----> Building shop from commit aaa")
	second := fs.begin("shop")
	fmt.Fprintln(second, "-----> Waiting for another deploy of shop")
	var seen []string
	ch := collect(t, fs, "shop")
	seen = append(seen, next(t, ch).Line)
	first.done(1, nil)
	if d := next(t, ch); !d.Done || d.Live != 1 {
		t.Fatalf("the first push's end: %+v", d)
	}
	for d := range collect(t, fs, "shop") {
		if d.Line != "" {
			seen = append(seen, d.Line)
		}
		if len(seen) == 2 {
			break
		}
	}
	if strings.Join(seen, " | ") != "-----> Building shop from commit aaa | -----> Waiting for another deploy of shop" {
		t.Errorf("followers saw %q", seen)
	}
	second.done(2, nil)
}

// TestDeployFeedBounds: a feed keeps its last lines, cut to a length; a
// follower that falls behind is let go with a word, not waited for.
func TestDeployFeedBounds(t *testing.T) {
	fs := newDeployFeeds()
	f := fs.begin("shop")
	fmt.Fprintln(f, strings.Repeat("x", maxFeedLine+100))
	fs.mu.Lock()
	long := len(f.lines[0])
	fs.mu.Unlock()
	if long != maxFeedLine {
		t.Errorf("a long line is kept with %d bytes, want %d", long, maxFeedLine)
	}
	for i := range maxFeedLines + 10 {
		fmt.Fprintf(f, "line %d\n", i)
	}
	fs.mu.Lock()
	n, first := len(f.lines), f.lines[0]
	fs.mu.Unlock()
	if n != maxFeedLines || first != "line 10" {
		t.Errorf("the feed keeps %d lines from %q", n, first)
	}

	stuck := make(chan struct{})
	ended := make(chan api.DeployLine, 1)
	go func() {
		var last api.DeployLine
		_ = fs.follow(context.Background(), "shop", func(d api.DeployLine) error {
			if d.Line == "line 10" {
				<-stuck // a slow reader, stuck on the first line
			}
			last = d
			return nil
		})
		ended <- last
	}()
	time.Sleep(50 * time.Millisecond)
	for i := range feedBuffer + 10 {
		fmt.Fprintf(f, "more %d\n", i)
	}
	close(stuck)
	select {
	case d := <-ended:
		if !d.Done || !strings.Contains(d.Error, "fell behind") {
			t.Errorf("a follower that fell behind ends with %+v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the push waited for a slow follower")
	}
	f.done(1, nil)
}
