package nomad

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler"
)

// Log reading limits.
const (
	maxLogLines    = 100000
	bytesPerLine   = 256     // guessed, to size the tail read
	maxTailBytes   = 8 << 20 // read at most this much history per stream
	timeLayout     = "2006-01-02T15:04:05.000000-07:00"
	logRelistAfter = 5 * time.Second
)

// logSource is one instance's log in Nomad.
type logSource struct {
	alloc *api.Allocation
	task  string
	dyno  string // web.1
}

// Logs returns the last o.Lines lines (100 by default) of the app's
// instances read from Nomad's log API, stdout and stderr, in Heroku's
// format, and with o.Follow the lines that follow, from instances started
// later too, until ctx ends, the reader is closed or the scheduler is.
// Nomad keeps no time per line: a line carries the time pier read it.
func (s *Scheduler) Logs(ctx context.Context, app string, o scheduler.LogOptions) (io.ReadCloser, error) {
	if err := checkName("app", app); err != nil {
		return nil, err
	}
	n := o.Lines
	if n == 0 {
		n = 100
	}
	n = min(n, maxLogLines)
	srcs, err := s.logSources(ctx, app, o.Process)
	if err != nil {
		return nil, err
	}
	var history []string
	if n > 0 {
		for _, src := range srcs {
			history = append(history, s.tail(ctx, src, n)...)
		}
		if len(history) > n {
			history = history[len(history)-n:]
		}
	}
	text := strings.Join(history, "")
	if !o.Follow {
		return io.NopCloser(strings.NewReader(text)), nil
	}
	pr, pw := io.Pipe()
	fctx, cancel := context.WithCancel(ctx)
	w := &lineWriter{w: pw, cancel: cancel}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		stop := context.AfterFunc(fctx, func() { pw.CloseWithError(io.EOF) })
		defer stop()
		go func() {
			select {
			case <-s.done:
				cancel()
			case <-fctx.Done():
			}
		}()
		if _, err := io.WriteString(w, text); err != nil {
			return
		}
		s.followApp(fctx, app, o.Process, srcs, w)
		pw.CloseWithError(io.EOF)
	}()
	return pr, nil
}

// logSources lists the instances whose logs Logs reads.
func (s *Scheduler) logSources(ctx context.Context, app, process string) ([]logSource, error) {
	var out []logSource
	for _, slot := range slots {
		sj, err := s.slotJob(ctx, app, slot)
		if err != nil {
			return nil, err
		}
		if sj == nil {
			continue
		}
		sortAllocs(sj.allocs)
		for _, a := range sj.allocs {
			if process != "" && a.TaskGroup != process {
				continue
			}
			out = append(out, logSource{
				alloc: &api.Allocation{ID: a.ID, NodeID: a.NodeID, Namespace: a.Namespace},
				task:  a.TaskGroup,
				dyno:  fmt.Sprintf("%s.%d", a.TaskGroup, allocIndex(a.Name)+1),
			})
		}
	}
	return out, nil
}

// tail returns the last n lines of an instance's stdout, then stderr.
func (s *Scheduler) tail(ctx context.Context, src logSource, n int) []string {
	var out []string
	size := min(max(int64(n)*bytesPerLine, 16<<10), maxTailBytes)
	for _, typ := range []string{api.FSLogNameStdout, api.FSLogNameStderr} {
		var b bytes.Buffer
		cctx, cancel := callCtx(ctx)
		s.stream(cctx, src, typ, false, size, func(data []byte) error {
			b.Write(data)
			return nil
		})
		cancel()
		text := b.String()
		if i := strings.IndexByte(text, '\n'); i >= 0 && b.Len() >= int(size) {
			text = text[i+1:] // the first line is cut by the offset
		}
		lines := strings.SplitAfter(text, "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		now := time.Now()
		for _, l := range lines {
			out = append(out, format(now, src.dyno, strings.TrimSuffix(l, "\n")))
		}
	}
	return out
}

// stream reads an instance's log; see fsLogs.
func (s *Scheduler) stream(ctx context.Context, src logSource, typ string, follow bool, offset int64, fn func([]byte) error) error {
	return s.fsLogs(ctx, src.alloc.ID, src.task, typ, follow, offset, fn)
}

// followApp follows the logs of the app's instances, those listed and
// those that start later, until ctx ends.
func (s *Scheduler) followApp(ctx context.Context, app, process string, srcs []logSource, w *lineWriter) {
	var wg sync.WaitGroup
	defer wg.Wait()
	seen := map[string]bool{}
	start := func(src logSource, offset int64) {
		seen[src.alloc.ID] = true
		for _, typ := range []string{api.FSLogNameStdout, api.FSLogNameStderr} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var partial []byte
				s.stream(ctx, src, typ, true, offset, func(data []byte) error {
					partial = append(partial, data...)
					end := bytes.LastIndexByte(partial, '\n') + 1
					if end == 0 {
						return nil
					}
					var out strings.Builder
					now := time.Now()
					for _, l := range strings.SplitAfter(string(partial[:end]), "\n") {
						if l != "" {
							out.WriteString(format(now, src.dyno, strings.TrimSuffix(l, "\n")))
						}
					}
					partial = append([]byte(nil), partial[end:]...)
					_, err := io.WriteString(w, out.String())
					return err
				})
			}()
		}
	}
	for _, src := range srcs {
		start(src, 0)
	}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			return
		case <-time.After(logRelistAfter):
		}
		now, err := s.logSources(ctx, app, process)
		if err != nil {
			continue
		}
		for _, src := range now {
			if !seen[src.alloc.ID] {
				start(src, maxTailBytes) // from its start: it is new
			}
		}
	}
}

// format is a line in Heroku's format.
func format(t time.Time, dyno, line string) string {
	return t.UTC().Format(timeLayout) + " app[" + dyno + "]: " + line + "\n"
}

// lineWriter serializes whole lines of several streams onto one pipe and
// ends the follow when the reader is gone.
type lineWriter struct {
	mu     sync.Mutex
	w      io.Writer
	cancel func()
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.w.Write(p)
	if err != nil {
		l.cancel()
	}
	return n, err
}
