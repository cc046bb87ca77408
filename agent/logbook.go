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
// writes; the proxy's hot path only appends its line to its app's pending
// bytes (no allocation, no channel send for each request).
type logbook struct {
	dir  string
	kick chan struct{} // one slot: lines are pending
	done chan struct{}

	pmu      sync.Mutex        // guards the three below
	pending  map[string][]byte // app -> lines for the writer, each ending in "\n"
	pendingN int               // their bytes, at most maxPendingLog
	spare    map[string][]byte // the writer's last batch, emptied, for its buffers

	mu   sync.Mutex
	subs map[string]map[chan string]struct{} // app -> followers
	fs   map[string]*os.File
}

// maxPendingLog bounds the bytes waiting for the writer: past it (a flood
// of requests faster than the disk), lines are dropped rather than slowing
// requests.
const maxPendingLog = 1 << 20

func newLogbook(dir string) (*logbook, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return &logbook{
		dir:     dir,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: map[string][]byte{},
		subs:    map[string]map[chan string]struct{}{},
		fs:      map[string]*os.File{},
	}, nil
}

// logGather is how long the writer lets lines gather when they come
// faster than that: under load a burst of router lines then goes out in
// one write per app, instead of a write, a stat and a wake-up of this
// goroutine for each request, which cost the agent several microseconds
// of CPU per request. A line after a quiet spell is written at once; under
// load, files and followers see a line at most this late.
const logGather = 20 * time.Millisecond

// run writes lines until ctx is done, then flushes and closes the files.
func (l *logbook) run(ctx context.Context) {
	defer close(l.done)
	gather := time.NewTimer(time.Hour)
	gather.Stop()
	var last time.Time // of the last write
	for {
		select {
		case <-l.kick:
			if wait := logGather - time.Since(last); wait > 0 {
				gather.Reset(wait)
				select {
				case <-gather.C:
				case <-ctx.Done():
				}
			}
			l.write(l.take())
			last = time.Now()
		case <-ctx.Done():
			l.write(l.take())
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

// take hands the writer the pending lines; an emptied batch of before
// takes their place, so that its buffers are used again.
func (l *logbook) take() map[string][]byte {
	l.pmu.Lock()
	defer l.pmu.Unlock()
	batch := l.pending
	l.pending, l.spare, l.pendingN = l.spare, nil, 0
	if l.pending == nil {
		l.pending = map[string][]byte{}
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
	l.queue(app, append(b, escapeControl(text)...))
}

// addRouter queues the router line of a request. It runs for every request
// the proxy answers: the line is made on the stack and copied once, into
// its app's pending bytes. Its time is when the request ended.
func (l *logbook) addRouter(r proxy.RequestLog) {
	end := r.Time.Add(r.Duration)
	if r.Time.IsZero() {
		end = time.Now()
	}
	var arr [384]byte
	b := appendLineHead(arr[:0], end, "router")
	text := len(b)
	b = appendRouterLine(b, r)
	if !isPlainASCII(b[text:]) {
		b = append(b[:text], escapeControl(string(b[text:]))...)
	}
	l.queue(r.App, b)
}

// appendLineHead appends "TIME app[SOURCE]: ".
func appendLineHead(b []byte, now time.Time, source string) []byte {
	b = logClock.append(b, now)
	b = append(b, " app["...)
	b = append(b, escapeControl(source)...)
	return append(b, "]: "...)
}

// queue adds a line to app's pending bytes and wakes the writer, or drops
// the line when maxPendingLog bytes already wait.
func (l *logbook) queue(app string, line []byte) {
	l.pmu.Lock()
	if l.pendingN+len(line)+1 > maxPendingLog {
		l.pmu.Unlock()
		return
	}
	wake := l.pendingN == 0
	l.pending[app] = append(append(l.pending[app], line...), '\n')
	l.pendingN += len(line) + 1
	l.pmu.Unlock()
	if wake {
		select {
		case l.kick <- struct{}{}:
		default: // the writer is already told
		}
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

// write appends each app's lines of a batch to its file in one write and
// passes them to the app's followers.
func (l *logbook) write(batch map[string][]byte) {
	l.mu.Lock()
	for app, b := range batch {
		if len(b) == 0 {
			continue
		}
		l.appendTo(app, b)
		if subs := l.subs[app]; len(subs) > 0 {
			for line := range bytes.Lines(b) {
				text := string(line[:len(line)-1])
				for ch := range subs {
					select {
					case ch <- text:
					default: // a slow follower misses lines rather than blocking
					}
				}
			}
		}
	}
	l.mu.Unlock()
	l.recycle(batch)
}

// recycle empties a written batch and keeps it for take. An app without
// lines this time lets its buffer go, and so do those past twice
// maxPendingLog in all.
func (l *logbook) recycle(batch map[string][]byte) {
	kept := 0
	for app, b := range batch {
		if len(b) == 0 || kept+cap(b) > 2*maxPendingLog {
			delete(batch, app)
			continue
		}
		kept += cap(b)
		batch[app] = b[:0]
	}
	l.pmu.Lock()
	l.spare = batch
	l.pmu.Unlock()
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
	b = appendQuoted(append(b, " path="...), r.Path)
	b = append(append(b, " host="...), r.Host...)
	b = append(append(b, " request_id="...), r.RequestID...)
	b = appendQuoted(append(b, " fwd="...), r.ClientIP)
	if r.Upstream != "" {
		b = append(append(b, " dyno="...), r.Upstream...)
		b = append(append(b, " slot="...), r.Slot...)
		b = strconv.AppendInt(append(b, " release=v"...), int64(r.Release), 10)
	}
	b = strconv.AppendInt(append(b, " service="...), r.Duration.Milliseconds(), 10)
	b = strconv.AppendInt(append(b, "ms status="...), int64(r.Status), 10)
	b = strconv.AppendInt(append(b, " bytes="...), r.Bytes, 10)
	if r.Error != "" {
		b = appendQuoted(append(b, " desc="...), r.Error)
	}
	return b
}

// appendQuoted appends s quoted as strconv.AppendQuote does, without its
// rune-by-rune escaping for the common printable ASCII.
func appendQuoted(b []byte, s string) []byte {
	if isPlainASCII(s) && !strings.ContainsAny(s, `"\`) {
		return append(append(append(b, '"'), s...), '"')
	}
	return strconv.AppendQuote(b, s)
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
