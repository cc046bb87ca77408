package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"log"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/sample-app/data"
	"github.com/pierhq/pier/sample-app/nlp"
)

func newWorker(t *testing.T) (*Worker, *bytes.Buffer) {
	t.Helper()
	a, err := nlp.Train("bayes", data.Texts)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var logs bytes.Buffer
	w := &Worker{
		Analyzer:   a,
		QueueDir:   filepath.Join(dir, "queue"),
		ResultsDir: filepath.Join(dir, "results"),
		Sentences:  2,
		MaxBytes:   200,
		Log:        log.New(&logs, "", 0),
		Settle:     time.Nanosecond,
	}
	if err := w.Prepare(); err != nil {
		t.Fatal(err)
	}
	return w, &logs
}

func readResult(t *testing.T, w *Worker, job string) JobResult {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(w.ResultsDir, job+".json"))
	if err != nil {
		t.Fatalf("result of %s: %v", job, err)
	}
	var r JobResult
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("result of %s is not JSON: %v", job, err)
	}
	return r
}

func TestProcessPending(t *testing.T) {
	w, _ := newWorker(t)
	jobs := map[string]string{
		"a-review.txt": "The pasta was delicious and the staff were lovely. We will come back.",
		"b-empty.txt":  "   \n",
		"c-long.txt":   strings.Repeat("too long ", 30),
		"d-ignored.md": "not a job",
	}
	for name, body := range jobs {
		os.WriteFile(filepath.Join(w.QueueDir, name), []byte(body), 0o644)
	}
	n, err := w.ProcessPending(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("ProcessPending = %d, %v; want 3 jobs", n, err)
	}
	r := readResult(t, w, "a-review")
	if r.Error != "" || r.Result == nil || r.Result.Sentiment.Label != "positive" || r.Result.Topic.Label != "food" {
		t.Errorf("a-review result: %+v", r)
	}
	if len(r.Result.Summary) != 2 {
		t.Errorf("summary %q, want 2 sentences", r.Result.Summary)
	}
	if r := readResult(t, w, "b-empty"); !strings.Contains(r.Error, "empty") {
		t.Errorf("empty job: %+v", r)
	}
	if r := readResult(t, w, "c-long"); !strings.Contains(r.Error, "MAX_TEXT_BYTES") {
		t.Errorf("long job: %+v", r)
	}
	for path, want := range map[string]bool{
		"queue/done/a-review.txt":  true,
		"queue/failed/b-empty.txt": true,
		"queue/failed/c-long.txt":  true,
		"queue/a-review.txt":       false,
		"queue/d-ignored.md":       true,
	} {
		_, err := os.Stat(filepath.Join(filepath.Dir(w.QueueDir), path))
		if (err == nil) != want {
			t.Errorf("%s exists=%v, want %v", path, err == nil, want)
		}
	}
	if n, _ := w.ProcessPending(context.Background()); n != 0 {
		t.Errorf("second pass processed %d jobs, want 0", n)
	}
}

func TestStaleClaimIsRequeued(t *testing.T) {
	w, _ := newWorker(t)
	claimed := filepath.Join(w.QueueDir, "stuck.txt"+claimedSuffix)
	os.WriteFile(claimed, []byte("The flight was cancelled and the airline lost my bag."), 0o644)
	old := time.Now().Add(-staleClaim - time.Minute)
	os.Chtimes(claimed, old, old)
	if n, err := w.ProcessPending(context.Background()); n != 1 || err != nil {
		t.Fatalf("ProcessPending = %d, %v", n, err)
	}
	if r := readResult(t, w, "stuck"); r.Result == nil || r.Result.Sentiment.Label != "negative" {
		t.Errorf("stuck job result: %+v", r)
	}
}

func TestRunStopsOnCancelAndBeats(t *testing.T) {
	w, logs := newWorker(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, 10*time.Millisecond, 20*time.Millisecond) }()
	// Written as producers should: under another name, then renamed.
	tmp := filepath.Join(w.QueueDir, "late.txt.tmp")
	os.WriteFile(tmp, []byte("The match was thrilling and our team won."), 0o644)
	os.Rename(tmp, filepath.Join(w.QueueDir, "late.txt"))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(w.ResultsDir, "late.json")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("worker did not pick up a job dropped while running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	for _, want := range []string{"heartbeat processed=1", "stopping; processed=1"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestFreshFileWaitsToSettle(t *testing.T) {
	w, _ := newWorker(t)
	w.Settle = time.Hour
	os.WriteFile(filepath.Join(w.QueueDir, "fresh.txt"), []byte("still being written"), 0o644)
	if n, _ := w.ProcessPending(context.Background()); n != 0 {
		t.Errorf("took a job that has not settled")
	}
	w.Settle = time.Nanosecond
	if n, _ := w.ProcessPending(context.Background()); n != 1 {
		t.Errorf("did not take the settled job")
	}
}
