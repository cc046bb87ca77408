package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pierhq/pier/proxy"
)

// Heroku's log time format, as the scheduler writes it too.
const logTimeFormat = "2006-01-02T15:04:05.000000-07:00"

// maxLogBytes is where an app's router and platform log rotates.
const maxLogBytes = 10 << 20

// logbook keeps the router (app[router]) and platform (app[pier]) lines of
// every app in one file per app, and feeds followers. A single goroutine
// writes, so the proxy's hot path only sends on a buffered channel.
type logbook struct {
	dir   string
	lines chan logLine
	done  chan struct{}

	mu   sync.Mutex
	subs map[string]map[chan string]struct{} // app -> followers
	fs   map[string]*os.File
	buf  []byte // the bytes of one write, reused
}

type logLine struct{ app, text string }

func newLogbook(dir string) (*logbook, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &logbook{
		dir:   dir,
		lines: make(chan logLine, 4096),
		done:  make(chan struct{}),
		subs:  map[string]map[chan string]struct{}{},
		fs:    map[string]*os.File{},
	}, nil
}

// logGather is how long the writer lets lines gather when they come
// faster than that: under load a burst of router lines then goes out in
// one write per app, instead of a write, a stat and a wake-up of this
// goroutine for each request, which cost the agent several microseconds
// of CPU per request. A line after a quiet spell is written at once; under
// load, files and followers see a line at most this late.
const logGather = 20 * time.Millisecond

// maxLogBatch bounds the lines one write takes (and so the write buffer).
const maxLogBatch = 1024

// run writes lines until ctx is done, then flushes and closes the files.
func (l *logbook) run(ctx context.Context) {
	defer close(l.done)
	batch := make([]logLine, 0, maxLogBatch)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	var last time.Time // of the last write
	for {
		select {
		case ln := <-l.lines:
			if wait := logGather - time.Since(last); wait > 0 {
				gather.Reset(wait)
				select {
				case <-gather.C:
				case <-ctx.Done():
				}
			}
			for batch = l.drain(append(batch[:0], ln)); len(batch) > 0; batch = l.drain(batch[:0]) {
				l.write(batch)
			}
			last = time.Now()
		case <-ctx.Done():
			for batch = l.drain(batch[:0]); len(batch) > 0; batch = l.drain(batch[:0]) {
				l.write(batch)
			}
			l.mu.Lock()
			for _, f := range l.fs {
				f.Close()
			}
			l.fs = map[string]*os.File{}
			l.mu.Unlock()
			return
		}
	}
}

// drain appends the lines already queued, up to maxLogBatch in all,
// without waiting for more.
func (l *logbook) drain(batch []logLine) []logLine {
	for len(batch) < maxLogBatch {
		select {
		case ln := <-l.lines:
			batch = append(batch, ln)
		default:
			return batch
		}
	}
	return batch
}

// add queues a line "TIME app[SOURCE]: text". When the queue is full (a
// flood of requests) router lines are dropped rather than slowing requests.
// Control characters in source and text are escaped, so that nothing a
// name, a message or a request holds can start a line of its own.
func (l *logbook) add(app, source, text string) {
	b := make([]byte, 0, len(logTimeFormat)+len(source)+len(text)+8)
	b = appendLineHead(b, time.Now(), source)
	l.queue(app, string(append(b, escapeControl(text)...)))
}

// addRouter queues the router line of a request. It runs for every request
// the proxy answers: the line is made in one buffer and copied once.
func (l *logbook) addRouter(r proxy.RequestLog) {
	var arr [384]byte
	b := appendLineHead(arr[:0], time.Now(), "router")
	text := len(b)
	b = appendRouterLine(b, r)
	if !isPlainASCII(b[text:]) {
		b = append(b[:text], escapeControl(string(b[text:]))...)
	}
	l.queue(r.App, string(b))
}

// appendLineHead appends "TIME app[SOURCE]: ".
func appendLineHead(b []byte, now time.Time, source string) []byte {
	b = logClock.append(b, now)
	b = append(b, " app["...)
	b = append(b, escapeControl(source)...)
	return append(b, "]: "...)
}

// queue sends a line to the writer, or drops it when the queue is full.
func (l *logbook) queue(app, line string) {
	select {
	case l.lines <- logLine{app, line}:
	default:
	}
}

// escapeControl writes control characters, line separators and bytes
// that are not UTF-8 as Go escapes (\n, \x1b, \u2028), so that s stays on
// one line and cannot steer a terminal.
func escapeControl(s string) string {
	if isPlainASCII(s) {
		return s
	}
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isPlainASCII reports whether b holds printable ASCII only, which
// escapeControl leaves as it is: the common case, checked without decoding
// runes.
func isPlainASCII[T string | []byte](b T) bool {
	for i := 0; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// write appends lines to their apps' files in order, each run of lines of
// one app in one write, and passes them to the app's followers.
func (l *logbook) write(lines []logLine) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(lines); {
		app := lines[i].app
		buf := l.buf[:0]
		j := i
		for ; j < len(lines) && lines[j].app == app; j++ {
			buf = append(append(buf, lines[j].text...), '\n')
		}
		l.buf = buf
		l.appendTo(app, buf)
		for _, ln := range lines[i:j] {
			for ch := range l.subs[app] {
				select {
				case ch <- ln.text:
				default: // a slow follower misses lines rather than blocking
				}
			}
		}
		i = j
	}
}

// appendTo writes b at the end of app's file, and rotates the file once it
// is over maxLogBytes. l.mu is held.
func (l *logbook) appendTo(app string, b []byte) {
	f := l.fs[app]
	if f == nil {
		var err error
		f, err = os.OpenFile(l.path(app), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return
		}
		l.fs[app] = f
	}
	_, _ = f.Write(b)
	if st, err := f.Stat(); err == nil && st.Size() > maxLogBytes {
		f.Close()
		delete(l.fs, app)
		_ = os.Rename(l.path(app), l.path(app)+".1")
	}
}

func (l *logbook) path(app string) string { return filepath.Join(l.dir, app+".log") }

// tail returns the last n lines of app.
func (l *logbook) tail(app string, n int) []string {
	var lines []string
	for _, p := range []string{l.path(app) + ".1", l.path(app)} {
		lines = append(lines, lastLines(p, n)...)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// follow returns a channel of app's new lines and a function to stop.
func (l *logbook) follow(app string) (<-chan string, func()) {
	ch := make(chan string, 256)
	l.mu.Lock()
	if l.subs[app] == nil {
		l.subs[app] = map[chan string]struct{}{}
	}
	l.subs[app][ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs[app], ch)
		l.mu.Unlock()
	}
}

// remove deletes app's log files.
func (l *logbook) remove(app string) {
	l.mu.Lock()
	if f := l.fs[app]; f != nil {
		f.Close()
		delete(l.fs, app)
	}
	l.mu.Unlock()
	_ = os.Remove(l.path(app))
	_ = os.Remove(l.path(app) + ".1")
}

// lastLines reads the last n lines of a file (at most 4 MiB from its end).
func lastLines(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	off := st.Size() - 4<<20
	if off < 0 {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(f)
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}

// appendRouterLine appends a request's router log line, after Heroku's.
func appendRouterLine(b []byte, r proxy.RequestLog) []byte {
	// Appended rather than formatted with fmt: one line per request, on the
	// request's goroutine (strconv.AppendQuote is what %q does).
	at := "info"
	if r.Error != "" || r.Status >= 500 {
		at = "error"
	}
	b = append(append(b, "at="...), at...)
	b = append(append(b, " method="...), r.Method...)
	b = strconv.AppendQuote(append(b, " path="...), r.Path)
	b = append(append(b, " host="...), r.Host...)
	b = append(append(b, " request_id="...), r.RequestID...)
	b = strconv.AppendQuote(append(b, " fwd="...), r.ClientIP)
	if r.Upstream != "" {
		b = append(append(b, " dyno="...), r.Upstream...)
		b = append(append(b, " slot="...), r.Slot...)
		b = strconv.AppendInt(append(b, " release=v"...), int64(r.Release), 10)
	}
	b = strconv.AppendInt(append(b, " service="...), r.Duration.Milliseconds(), 10)
	b = strconv.AppendInt(append(b, "ms status="...), int64(r.Status), 10)
	b = strconv.AppendInt(append(b, " bytes="...), r.Bytes, 10)
	if r.Error != "" {
		b = strconv.AppendQuote(append(b, " desc="...), r.Error)
	}
	return b
}

// mergeTail merges two sets of log lines by their leading timestamps and
// keeps the last n.
func mergeTail(a, b []string, n int) []string {
	all := append(append([]string{}, a...), b...)
	sort.SliceStable(all, func(i, j int) bool { return lineTime(all[i]).Before(lineTime(all[j])) })
	if len(all) > n {
		all = all[len(all)-n:]
	}
	return all
}

func lineTime(line string) time.Time {
	ts, _, _ := strings.Cut(line, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}
	}
	return t
}

// matchesProcess reports whether a line belongs to process type p ("web"
// matches app[web.1], "router" matches app[router]).
func matchesProcess(line, p string) bool {
	i := strings.Index(line, " app[")
	if i < 0 {
		return false
	}
	src := line[i+5:]
	j := strings.IndexByte(src, ']')
	if j < 0 {
		return false
	}
	src = src[:j]
	return src == p || strings.HasPrefix(src, p+".")
}
