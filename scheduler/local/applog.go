package local

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// maxLogSize is the size at which an app's log file is rotated; the log
// keeps the current file and the one before it.
var maxLogSize int64 = 5 << 20

// maxLineLen cuts longer lines of output into several log lines.
const maxLineLen = 64 << 10

// timeFormat is Heroku's log timestamp.
const timeFormat = "2006-01-02T15:04:05.000000-07:00"

// appLog appends formatted lines to an app's log file, rotating it.
type appLog struct {
	mu   sync.Mutex
	path string
}

func (s *Scheduler) appLogPath(app string) string {
	return filepath.Join(s.dir, "apps", app, "app.log")
}

// log returns the app's log writer.
func (s *Scheduler) log(app string) *appLog {
	s.logsMu.Lock()
	defer s.logsMu.Unlock()
	l := s.logs[app]
	if l == nil {
		l = &appLog{path: s.appLogPath(app)}
		s.logs[app] = l
	}
	return l
}

// write appends lines from source ("web.1", "pier") stamped with now.
func (l *appLog) write(source string, lines [][]byte) {
	if len(lines) == 0 {
		return
	}
	var buf bytes.Buffer
	ts := time.Now().UTC().Format(timeFormat)
	for _, line := range lines {
		line = bytes.TrimRight(line, "\r")
		buf.WriteString(ts)
		buf.WriteString(" app[")
		buf.WriteString(source)
		buf.WriteString("]: ")
		buf.Write(line)
		buf.WriteByte('\n')
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return
	}
	if fi, err := os.Stat(l.path); err == nil && fi.Size()+int64(buf.Len()) > maxLogSize {
		os.Rename(l.path, l.path+".1")
	}
	f, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return
	}
	f.Write(buf.Bytes())
	f.Close()
}

// event writes a scheduler lifecycle line: "app[pier]: web.1 State changed ...".
func (s *Scheduler) event(app, format string, args ...any) {
	s.log(app).write("pier", [][]byte{[]byte(fmt.Sprintf(format, args...))})
}

// How much tail reads.
type tailMode int

const (
	tailLines tailMode = iota // complete lines
	tailFlush                 // everything: the process ended
	tailLast                  // everything, then remove the raw file
)

// tail moves new lines of an instance's raw output into the app log.
func (s *Scheduler) tail(app, name, raw string, t *tailState, mode tailMode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	final := mode != tailLines
	if mode == tailLast {
		t.done = true
		defer os.Remove(raw)
	}
	f, err := os.Open(raw)
	if err != nil {
		return
	}
	defer f.Close()
	l := s.log(app)
	for {
		off := t.offset.Load()
		fi, err := f.Stat()
		if err != nil {
			return
		}
		if fi.Size() < off { // truncated behind our back
			off = 0
		}
		if fi.Size() == off {
			break
		}
		buf := make([]byte, min(fi.Size()-off, 1<<20))
		n, _ := f.ReadAt(buf, off)
		buf = buf[:n]
		end := bytes.LastIndexByte(buf, '\n') + 1
		if end == 0 && (final || n >= maxLineLen) {
			end = n
		}
		if end == 0 {
			break
		}
		l.write(name, splitLines(buf[:end]))
		t.offset.Store(off + int64(end))
		if n < len(buf) || end < n {
			break
		}
	}
	s.truncateRaw(raw, t)
}

// truncateRaw empties a raw output file that has been read to its end and
// grew large; the process appends (O_APPEND), so it writes on at offset 0.
func (s *Scheduler) truncateRaw(raw string, t *tailState) {
	const rawMax = 8 << 20
	off := t.offset.Load()
	if off < rawMax {
		return
	}
	if fi, err := os.Stat(raw); err == nil && fi.Size() == off {
		if os.Truncate(raw, 0) == nil {
			t.offset.Store(0)
		}
	}
}

// splitLines splits b at newlines and at maxLineLen.
func splitLines(b []byte) [][]byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	var out [][]byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		for len(line) > maxLineLen {
			out = append(out, line[:maxLineLen])
			line = line[maxLineLen:]
		}
		out = append(out, line)
	}
	return out
}

// openRaw opens (creates) an instance's raw output file for the process.
func openRaw(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}
