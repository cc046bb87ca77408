package agent

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/proxy"
)

func TestEscapeControl(t *testing.T) {
	for in, want := range map[string]string{
		"Deployed v2 by ci":                "Deployed v2 by ci",
		`C:\path`:                          `C:\path`,
		"by ci\n2026 app[pier]: Deployed":  `by ci\n2026 app[pier]: Deployed`,
		"a\rb\tc\x1b[2Jd\x00":              `a\rb\tc\x1b[2Jd\x00`,
		"line\u2028sep\u0085":              `line\u2028sep\u0085`,
		"bad \xff byte, good é and \ufffd": `bad \xff byte, good é and ` + "\ufffd",
	} {
		if got := escapeControl(in); got != want {
			t.Errorf("escapeControl(%q) = %q, want %q", in, got, want)
		}
	}
}

// A name or message holding a newline (a token named before names were
// checked) writes one line, not a forged second one.
func TestLogbookWritesOneLinePerAdd(t *testing.T) {
	l, err := newLogbook(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go l.run(ctx)
	l.add("hello", "pier", "Maintenance mode on by ci\n2026-01-01T00:00:00.000000+00:00 app[pier]: Deployed v9 by admin")
	cancel()
	select {
	case <-l.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the logbook did not stop")
	}
	lines := l.tail("hello", 10)
	if len(lines) != 1 || !strings.Contains(lines[0], `by ci\n2026-01-01`) {
		t.Fatalf("lines = %q, want one line with the newline escaped", lines)
	}
}

// Lines queued at once (a burst of requests) are written in batches: each
// app's file gets its own lines, every one, in order, and its followers
// get them too.
func TestLogbookWritesQueuedLinesInOrder(t *testing.T) {
	l, err := newLogbook(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	follow, stop := l.follow("a")
	defer stop()
	const n = 300 // more than one batch; fewer lines of "a" than a follower holds
	for i := range n {
		app := "a"
		if i%3 == 2 {
			app = "b"
		}
		l.add(app, "router", fmt.Sprintf("line %d", i))
	}
	ctx, cancel := context.WithCancel(context.Background())
	go l.run(ctx)
	var followed []string
	for len(followed) < n-n/3 {
		select {
		case s := <-follow:
			followed = append(followed, s)
		case <-time.After(5 * time.Second):
			t.Fatalf("the follower got %d lines, want %d", len(followed), n-n/3)
		}
	}
	cancel()
	<-l.done
	want := map[string][]string{}
	for i := range n {
		app := "a"
		if i%3 == 2 {
			app = "b"
		}
		want[app] = append(want[app], fmt.Sprintf("line %d", i))
	}
	for app, lines := range want {
		got := l.tail(app, n)
		if len(got) != len(lines) {
			t.Fatalf("%s: %d lines, want %d", app, len(got), len(lines))
		}
		for i := range lines {
			if !strings.HasSuffix(got[i], "app[router]: "+lines[i]) {
				t.Fatalf("%s line %d = %q, want it to end in %q", app, i, got[i], lines[i])
			}
		}
	}
	for i, s := range followed {
		if !strings.HasSuffix(s, "app[router]: "+want["a"][i]) {
			t.Fatalf("followed line %d = %q, want %q", i, s, want["a"][i])
		}
	}
}

// The router line reads as Heroku's router lines do, quoting what a client
// chose (path, forwarded address, error) so it stays one line of fields.
func TestRouterLine(t *testing.T) {
	for _, tc := range []struct {
		in   proxy.RequestLog
		want string
	}{{
		in: proxy.RequestLog{Method: "GET", Path: "/a b\"\n", Host: "shop.example.com", RequestID: "r1", ClientIP: "10.0.0.1",
			Upstream: "web.1", Slot: "blue", Release: 7, Duration: 1500 * time.Microsecond, Status: 200, Bytes: 12},
		want: `at=info method=GET path="/a b\"\n" host=shop.example.com request_id=r1 fwd="10.0.0.1" dyno=web.1 slot=blue release=v7 service=1ms status=200 bytes=12`,
	}, {
		in:   proxy.RequestLog{Method: "POST", Path: "/", Host: "h", RequestID: "r2", ClientIP: "::1", Duration: 2 * time.Second, Status: 502, Error: "upstream \"gone\""},
		want: `at=error method=POST path="/" host=h request_id=r2 fwd="::1" service=2000ms status=502 bytes=0 desc="upstream \"gone\""`,
	}} {
		if got := string(appendRouterLine(nil, tc.in)); got != tc.want {
			t.Errorf("routerLine(%+v) =\n%s\nwant\n%s", tc.in, got, tc.want)
		}
	}
}

// A request's router line goes to its app's file whole, in one line, with
// what the client chose escaped.
func TestLogbookRouterLine(t *testing.T) {
	l, err := newLogbook(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l.addRouter(proxy.RequestLog{App: "shop", Method: "GET", Path: "/é", Host: "shop.example.com", RequestID: "r1", ClientIP: "10.0.0.1",
		Upstream: "web.1", Slot: "blue", Release: 7, Duration: 3 * time.Millisecond, Status: 200, Bytes: 5})
	l.addRouter(proxy.RequestLog{App: "shop", Method: "GET", Path: "/", Host: "shop\x1b[2J\n2026 app[pier]: forged", RequestID: "r2", ClientIP: "::1", Status: 404})
	ctx, cancel := context.WithCancel(context.Background())
	go l.run(ctx)
	cancel()
	<-l.done
	lines := l.tail("shop", 10)
	want := []string{
		` app[router]: at=info method=GET path="/é" host=shop.example.com request_id=r1 fwd="10.0.0.1" dyno=web.1 slot=blue release=v7 service=3ms status=200 bytes=5`,
		` app[router]: at=info method=GET path="/" host=shop\x1b[2J\n2026 app[pier]: forged request_id=r2 fwd="::1" service=0ms status=404 bytes=0`,
	}
	if len(lines) != len(want) {
		t.Fatalf("lines = %q, want %d", lines, len(want))
	}
	for i, line := range lines {
		at, rest, _ := strings.Cut(line, " ")
		if _, err := time.Parse(logTimeFormat, at); err != nil {
			t.Errorf("line %d: time %q: %v", i, at, err)
		}
		if " "+rest != want[i] {
			t.Errorf("line %d =\n%s\nwant\n%s", i, " "+rest, want[i])
		}
	}
}

// BenchmarkRouterLog is the agent's router log work per request, on the
// request's goroutine.
func BenchmarkRouterLog(b *testing.B) {
	l, err := newLogbook(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	rl := proxy.RequestLog{App: "shop", Method: "GET", Path: "/products/42", Host: "shop.example.com", RequestID: "0b5a4c1e-8f43-4c1b-9f7e-2d4b6a8c0e1f",
		ClientIP: "203.0.113.7", Upstream: "web.1", Slot: "blue", Release: 7, Time: time.Now(), Duration: 3 * time.Millisecond, Status: 200, Bytes: 512}
	b.ReportAllocs()
	for b.Loop() {
		l.addRouter(rl)
		if l.pendingN > 200<<10 { // what the writer takes in 20 ms at 40,000 requests/s
			l.recycle(l.take())
		}
	}
}

// appendQuoted is strconv.AppendQuote, faster for plain ASCII.
func TestAppendQuotedIsAppendQuote(t *testing.T) {
	for _, s := range []string{"", "/", "/products/42?x=1", `a"b`, `a\b`, "é", "\x1b[2J", "tab\there", "\x7f", "\u2028", string([]byte{0xff}), "10.0.0.1", "2001:db8::1"} {
		if got, want := string(appendQuoted([]byte("x="), s)), strconv.Quote(s); got != "x="+want {
			t.Errorf("appendQuoted(%q) = %s, want x=%s", s, got, want)
		}
	}
}
