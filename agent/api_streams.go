package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

const (
	defaultLogLines = 100
	maxLogLines     = 10000
	runTimeout      = time.Hour
)

// getLogs streams an app's process, router and platform lines, merged by
// time; with follow=1 it keeps streaming new lines.
func (a *Agent) getLogs(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	n := atoiDefault(q.Get("n"), defaultLogLines)
	if n <= 0 || n > maxLogLines {
		return invalidf("-n must be between 1 and %d", maxLogLines)
	}
	proc, follow := q.Get("process"), q.Get("follow") == "1"
	ownSource := proc == "router" || proc == "pier"
	f, searched, err := parseLogFilter(q, time.Now(), a.cfg.LogRetention)
	if err != nil {
		return err
	}
	if follow && !f.until.IsZero() {
		return invalidf("--until and -f do not go together: following shows lines as they come")
	}
	window := n
	if searched {
		window = logHistoryLines // the last n lines that match, of all kept
	}

	var procLines []string
	if !ownSource {
		all, err := a.processLines(r.Context(), app.Name, scheduler.LogOptions{Lines: window, Process: proc})
		if err != nil {
			return err
		}
		for _, l := range all {
			if f.keep(l) {
				procLines = append(procLines, l)
			}
		}
	}
	var book []string
	for _, l := range a.logs.tail(app.Name, window) {
		if (proc == "" || matchesProcess(l, proc)) && f.keep(l) {
			book = append(book, l)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	out := newStreamWriter(w)
	for _, l := range mergeTail(procLines, book, n) {
		fmt.Fprintln(out, l)
	}
	if !follow {
		return nil
	}
	return a.followLogs(r.Context(), app.Name, proc, ownSource, f, out)
}

func (a *Agent) processLines(ctx context.Context, app string, o scheduler.LogOptions) ([]string, error) {
	rc, err := a.sched.Logs(ctx, app, o)
	if err != nil {
		return nil, fmt.Errorf("reading the logs of %s: %w", app, err)
	}
	defer rc.Close()
	var lines []string
	sc := bufio.NewScanner(rc)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, nil
}

// followLogs interleaves new process lines and new router and platform
// lines as they come, until the client goes away.
func (a *Agent) followLogs(ctx context.Context, app, proc string, ownSource bool, f logFilter, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lines := make(chan string, 256)
	if !ownSource {
		rc, err := a.sched.Logs(ctx, app, scheduler.LogOptions{Lines: -1, Follow: true, Process: proc})
		if err != nil {
			return err
		}
		defer rc.Close()
		go func() {
			defer cancel()
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				select {
				case lines <- sc.Text():
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	book, stop := a.logs.follow(app)
	defer stop()
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case l := <-lines:
			if f.grep != "" && !strings.Contains(l, f.grep) {
				continue
			}
			if _, err := fmt.Fprintln(out, l); err != nil {
				return nil
			}
		case l := <-book:
			if (proc != "" && !matchesProcess(l, proc)) || (f.grep != "" && !strings.Contains(l, f.grep)) {
				continue
			}
			if _, err := fmt.Fprintln(out, l); err != nil {
				return nil
			}
		case <-keepalive.C:
			// Nothing: the stream stays open; TCP keep-alive covers the rest.
		}
	}
}

// postRun runs a one-off command in the live release and streams its
// output, ending with the exit trailer.
func (a *Agent) postRun(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.RunRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Command) == "" {
		return invalidf("no command given: pier run -a %s -- COMMAND", app.Name)
	}
	if app.LiveRelease == 0 {
		return conflictf("%s has no release to run in: deploy it first", app.Name)
	}
	rel, err := a.store.GetRelease(app.Name, app.LiveRelease)
	if err != nil {
		return err
	}
	vars, err := a.store.ReleaseConfig(app.Name, rel.Version)
	if err != nil {
		return err
	}
	d, err := a.deploy.deployment(app, rel, app.LiveSlot, vars, nil)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := newStreamWriter(w)
	a.events.addData(app.Name, api.EventRunStarted, userOf(r), api.EventData{"release": releaseName(rel.Version)}, "Running a one-off process in v%d", rel.Version)
	code, err := a.sched.Run(r.Context(), app.Name, scheduler.OneOff{
		Deployment: d,
		Command:    req.Command,
		Output:     out,
		Timeout:    runTimeout,
	})
	if err != nil {
		fmt.Fprintf(out, "pier: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	fmt.Fprintf(out, "%s%d\n", api.RunExitPrefix, code)
	return nil
}

// streamWriter flushes every write to the client.
type streamWriter struct {
	w  io.Writer
	fl http.Flusher
}

func newStreamWriter(w http.ResponseWriter) *streamWriter {
	fl, _ := w.(http.Flusher)
	return &streamWriter{w: w, fl: fl}
}

func (s *streamWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if s.fl != nil {
		s.fl.Flush()
	}
	return n, err
}
