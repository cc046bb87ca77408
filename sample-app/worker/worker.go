// Package worker runs the batch side of the app: it watches a queue
// directory for *.txt jobs, analyzes each one and writes a JSON result.
// With a database (Worker.DB, from DATABASE_URL) the queue and the results
// are its jobs and results tables instead (package pgqueue).
//
// Producers should write a job under another name (x.txt.tmp) and rename it
// to x.txt when complete; as a safety net the worker also leaves alone *.txt
// files changed within the last Settle.
//
// A job moves queue/x.txt -> queue/x.txt.claimed (only one worker wins the
// rename) -> queue/done/x.txt or queue/failed/x.txt, and its result lands in
// results/x.json, written atomically.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pierhq/pier/sample-app/datadir"
	"github.com/pierhq/pier/sample-app/nlp"
	"github.com/pierhq/pier/sample-app/pgqueue"
)

// claimedSuffix marks a job a worker is working on.
const claimedSuffix = ".claimed"

// staleClaim is how old a claim must be before a worker assumes its owner
// died and puts the job back in the queue.
const staleClaim = 10 * time.Minute

// DefaultSettle is the Settle a zero Worker.Settle means.
const DefaultSettle = time.Second

// Worker processes the jobs of one queue directory.
type Worker struct {
	Analyzer   *nlp.Analyzer
	QueueDir   string
	ResultsDir string
	Sentences  int
	MaxBytes   int
	Log        *log.Logger
	// Settle is how long a job file must be unchanged before it is taken;
	// zero means DefaultSettle.
	Settle time.Duration
	// DB, when set, holds the queue and the results instead of QueueDir
	// and ResultsDir.
	DB *pgqueue.Store

	processed, failed int
}

// JobResult is what results/<job>.json holds.
type JobResult struct {
	Job         string      `json:"job"`
	Model       string      `json:"model"`
	ProcessedAt string      `json:"processed_at"`
	ElapsedMS   float64     `json:"elapsed_ms"`
	Result      *nlp.Result `json:"result,omitempty"`
	Error       string      `json:"error,omitempty"`
}

// Prepare creates the directories the worker uses.
func (w *Worker) Prepare() error {
	for _, d := range []string{w.QueueDir, filepath.Join(w.QueueDir, "done"), filepath.Join(w.QueueDir, "failed"), w.ResultsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("creating %s: %w (set QUEUE_DIR and RESULTS_DIR to writable directories)", d, err)
		}
	}
	return nil
}

// Run processes jobs every poll interval and logs a heartbeat every
// heartbeat interval until ctx ends. A job in progress when ctx ends is
// finished first.
func (w *Worker) Run(ctx context.Context, poll, heartbeat time.Duration) error {
	if w.DB != nil {
		w.Log.Printf("worker: watching the jobs table of DATABASE_URL's database, results in its results table")
	} else {
		if err := w.Prepare(); err != nil {
			return err
		}
		w.Log.Printf("worker: watching %s for *.txt jobs, results in %s", w.QueueDir, w.ResultsDir)
	}
	tick := time.NewTicker(poll)
	defer tick.Stop()
	beat := time.NewTicker(heartbeat)
	defer beat.Stop()
	for {
		if _, err := w.ProcessPending(ctx); err != nil {
			w.Log.Printf("worker: %v", err)
		}
		select {
		case <-ctx.Done():
			w.Log.Printf("worker: stopping; processed=%d failed=%d", w.processed, w.failed)
			return nil
		case <-beat.C:
			w.Log.Printf("worker: heartbeat processed=%d failed=%d pending=%d", w.processed, w.failed, len(w.pending()))
		case <-tick.C:
		}
	}
}

// ProcessPending handles every job now in the queue and returns how many it
// handled. It stops between jobs when ctx ends.
func (w *Worker) ProcessPending(ctx context.Context) (int, error) {
	if w.DB != nil {
		return w.processDB(ctx)
	}
	w.requeueStale()
	n := 0
	for _, name := range w.pending() {
		if ctx.Err() != nil {
			break
		}
		ok, err := w.process(name)
		if err != nil {
			return n, fmt.Errorf("job %s: %w", name, err)
		}
		if ok {
			n++
		}
	}
	return n, nil
}

// pending lists the queued job names that have settled, in order.
func (w *Worker) pending() []string {
	settle := w.Settle
	if settle == 0 {
		settle = DefaultSettle
	}
	matches, _ := filepath.Glob(filepath.Join(w.QueueDir, "*.txt"))
	names := make([]string, 0, len(matches))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) >= settle {
			names = append(names, filepath.Base(m))
		}
	}
	sort.Strings(names)
	return names
}

// process claims and handles one job; ok is false when another worker
// claimed it first.
func (w *Worker) process(name string) (ok bool, err error) {
	src := filepath.Join(w.QueueDir, name)
	claimed := src + claimedSuffix
	if err := os.Rename(src, claimed); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("claiming: %w", err)
	}
	b, err := os.ReadFile(claimed)
	if err != nil {
		err = fmt.Errorf("reading job: %w", err)
	}
	res := w.analyze(name, b, err)
	body, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return true, err
	}
	out := filepath.Join(w.ResultsDir, strings.TrimSuffix(name, ".txt")+".json")
	if err := datadir.WriteFileAtomic(out, append(body, '\n')); err != nil {
		return true, fmt.Errorf("writing result: %w", err)
	}
	dest := w.record(res)
	if err := os.Rename(claimed, filepath.Join(w.QueueDir, dest, name)); err != nil {
		return true, fmt.Errorf("moving job to %s: %w", dest, err)
	}
	return true, nil
}

// processDB handles every job queued in the database.
func (w *Worker) processDB(ctx context.Context) (int, error) {
	n := 0
	for ctx.Err() == nil {
		j, ok, err := w.DB.Claim(ctx)
		if err != nil || !ok {
			return n, err
		}
		res := w.analyze(j.Name, []byte(j.Text), nil)
		body, err := json.Marshal(res)
		if err != nil {
			return n, err
		}
		if err := w.DB.Finish(ctx, j, body, res.Error != ""); err != nil {
			return n, fmt.Errorf("job %s: recording its result: %w", j.Name, err)
		}
		w.record(res)
		n++
	}
	return n, nil
}

// analyze is a job's result: the analysis of its text, or why there is
// none (readErr, or a text the web API would refuse too).
func (w *Worker) analyze(name string, text []byte, readErr error) JobResult {
	start := time.Now()
	res := JobResult{Job: name, Model: w.Analyzer.Model}
	s, err := w.check(text)
	if readErr != nil {
		err = readErr
	}
	if err == nil {
		r := w.Analyzer.Analyze(s, w.Sentences)
		res.Result = &r
	} else {
		res.Error = err.Error()
	}
	res.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	res.ProcessedAt = time.Now().UTC().Format(time.RFC3339)
	return res
}

// record counts and logs a handled job, and says where it goes: "done"
// or "failed".
func (w *Worker) record(res JobResult) string {
	if res.Error != "" {
		w.failed++
		w.Log.Printf("worker: job %s failed: %s", res.Job, res.Error)
		return "failed"
	}
	w.processed++
	w.Log.Printf("worker: job %s done: sentiment=%s topic=%s in %.2fms", res.Job, res.Result.Sentiment.Label, res.Result.Topic.Label, res.ElapsedMS)
	return "done"
}

// check rejects what the web API would reject.
func (w *Worker) check(b []byte) (string, error) {
	switch {
	case len(b) > w.MaxBytes:
		return "", fmt.Errorf("job is %d bytes; the limit is %d (MAX_TEXT_BYTES)", len(b), w.MaxBytes)
	case !utf8.Valid(b):
		return "", errors.New("job is not UTF-8 text")
	case strings.TrimSpace(string(b)) == "":
		return "", errors.New("job is empty")
	}
	return string(b), nil
}

// requeueStale puts back jobs whose claim is older than staleClaim: their
// worker was killed before it finished.
func (w *Worker) requeueStale() {
	matches, _ := filepath.Glob(filepath.Join(w.QueueDir, "*.txt"+claimedSuffix))
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil && time.Since(fi.ModTime()) > staleClaim {
			if os.Rename(m, strings.TrimSuffix(m, claimedSuffix)) == nil {
				w.Log.Printf("worker: requeued stale job %s", filepath.Base(strings.TrimSuffix(m, claimedSuffix)))
			}
		}
	}
}
