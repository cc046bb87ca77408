package local

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// followPoll is how often a followed log is checked for new lines.
const followPoll = 200 * time.Millisecond

// maxLogLines caps LogOptions.Lines.
const maxLogLines = 100000

// Logs returns the last o.Lines lines of the app's log (100 by default),
// only those of o.Process when set, and with o.Follow the lines that follow
// until ctx ends, the reader is closed or the scheduler is closed.
func (s *Scheduler) Logs(ctx context.Context, app string, o scheduler.LogOptions) (io.ReadCloser, error) {
	if err := checkName("app", app); err != nil {
		return nil, err
	}
	n := o.Lines
	if n == 0 {
		n = 100
	}
	path := s.appLogPath(app)
	l := s.log(app)
	l.mu.Lock() // a consistent view across a rotation
	var lines []string
	if n > 0 {
		lines = lastLines([]string{path + ".1", path}, n, o.Process)
	}
	cur, _ := os.Stat(path)
	var off int64
	if cur != nil {
		off = cur.Size()
	}
	l.mu.Unlock()
	text := strings.Join(lines, "")
	if !o.Follow {
		return io.NopCloser(strings.NewReader(text)), nil
	}
	pr, pw := io.Pipe()
	s.followMu.Lock()
	s.followers[pw] = true
	s.followMu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.followMu.Lock()
			delete(s.followers, pw)
			s.followMu.Unlock()
		}()
		if _, err := io.WriteString(pw, text); err != nil {
			return
		}
		pw.CloseWithError(s.follow(ctx, path, cur, off, o.Process, pw))
	}()
	return pr, nil
}

// follow copies lines appended to path after off to w, across rotations.
func (s *Scheduler) follow(ctx context.Context, path string, cur os.FileInfo, off int64, process string, w io.Writer) error {
	t := time.NewTicker(followPoll)
	defer t.Stop()
	var partial []byte
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.done:
			return io.EOF
		case <-t.C:
		}
		fi, err := os.Stat(path)
		if err != nil {
			continue
		}
		if cur == nil || !os.SameFile(cur, fi) || fi.Size() < off {
			// Rotated: finish the old file, then start the new one.
			if cur != nil {
				b, _ := readFrom(path+".1", off)
				partial = append(partial, b...)
			}
			cur, off = fi, 0
		}
		b, _ := readFrom(path, off)
		off += int64(len(b))
		partial = append(partial, b...)
		end := bytes.LastIndexByte(partial, '\n') + 1
		var out bytes.Buffer
		for _, line := range bytes.SplitAfter(partial[:end], []byte("\n")) {
			if len(line) > 0 && matches(string(line), process) {
				out.Write(line)
			}
		}
		partial = append([]byte(nil), partial[end:]...)
		if out.Len() > 0 {
			if _, err := w.Write(out.Bytes()); err != nil {
				return err
			}
		}
	}
}

// readFrom reads path from off to its end.
func readFrom(path string, off int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// lastLines returns the last n lines of the files, in order, that match
// process, each ending in a newline.
func lastLines(files []string, n int, process string) []string {
	n = min(n, maxLogLines)
	ring := make([]string, n)
	count := 0
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 4*maxLineLen)
		for sc.Scan() {
			line := sc.Text() + "\n"
			if !matches(line, process) {
				continue
			}
			ring[count%n] = line
			count++
		}
		f.Close()
	}
	if count <= n {
		return ring[:count]
	}
	return append(ring[count%n:], ring[:count%n]...)
}

// matches reports whether a log line is of process type p ("" for all): a
// line from one of its instances, or a scheduler line about one.
func matches(line, p string) bool {
	if p == "" {
		return true
	}
	_, rest, ok := strings.Cut(line, " ")
	if !ok {
		return false
	}
	if strings.HasPrefix(rest, "app["+p+".") {
		return true
	}
	return strings.HasPrefix(rest, "app[pier]: "+p+".")
}
