package agent

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/pierhq/pier/agent/backuptarget"
	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/internal/s3stub"
)

func TestParseBackupEvery(t *testing.T) {
	base := time.Date(2026, 3, 1, 10, 30, 0, 0, time.Local)
	for _, c := range []struct {
		in   string
		next time.Time
		bad  string
	}{
		{in: "6h", next: base.Add(6 * time.Hour)},
		{in: "0 3 * * *", next: time.Date(2026, 3, 2, 3, 0, 0, 0, time.Local)},
		{in: "@daily", next: time.Date(2026, 3, 2, 0, 0, 0, 0, time.Local)},
		{in: "*/15 * * * *", next: base.Add(15 * time.Minute)},
		{in: "100ms", bad: "too often"},
		{in: "every day", bad: "neither an interval"},
		{in: "61 * * * *", bad: "neither an interval"},
	} {
		s, err := parseBackupEvery(c.in)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%q: %v, want an error saying %q", c.in, err, c.bad)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if got := s.Next(base); !got.Equal(c.next) {
			t.Errorf("%q: next after %v is %v, want %v", c.in, base, got, c.next)
		}
	}
	a, _ := backupAgent(t)
	for _, bad := range []BackupSchedule{
		{Every: "1h"},
		{To: "/backups"},
		{Every: "1h", To: "/b", Keep: -1},
		{Every: "1h", To: "/b", IncludeKey: true},
	} {
		if _, err := newBackupScheduler(a, bad, nil); err == nil {
			t.Errorf("%+v was taken", bad)
		}
	}
}

// TestScheduledBackups: every second a backup lands in the target, the
// oldest beyond --backup-keep go, the metrics and the audit log say so;
// a target that fails counts a failure, says why, and deletes nothing;
// the job stops with the agent's context.
func TestScheduledBackups(t *testing.T) {
	for _, kind := range []string{"dir", "s3"} {
		t.Run(kind, func(t *testing.T) {
			a, _ := backupAgent(t)
			to := filepath.Join(t.TempDir(), "backups")
			if kind == "s3" {
				s := s3stub.Start(t, "pier-backups")
				for _, kv := range s.Env() {
					k, v, _ := strings.Cut(kv, "=")
					t.Setenv(k, v)
				}
				to = "s3://pier-backups/vm1"
			}
			reg := prometheus.NewRegistry()
			b, err := newBackupScheduler(a, BackupSchedule{Every: "1s", To: to, Keep: 2, IncludeKey: true, Passphrase: testPassphrase}, reg)
			if err != nil {
				t.Fatal(err)
			}
			if got := testutil.ToFloat64(b.interval); got != 1 {
				t.Errorf("pier_backup_interval_seconds = %v", got)
			}
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { defer close(done); b.run(ctx) }()
			deadline := time.Now().Add(30 * time.Second)
			for testutil.ToFloat64(b.total.WithLabelValues("succeeded")) < 4 && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
			}
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the backup job did not stop with the agent")
			}
			if n := testutil.ToFloat64(b.total.WithLabelValues("succeeded")); n < 4 {
				t.Fatalf("%v backups in 30s", n)
			}
			if n := testutil.ToFloat64(b.total.WithLabelValues("failed")); n != 0 {
				t.Errorf("%v failed", n)
			}
			if age := time.Since(time.Unix(int64(testutil.ToFloat64(b.lastSuccess)), 0)); age > 5*time.Second {
				t.Errorf("last success %v ago", age)
			}
			tg, err := backuptarget.Open(t.Context(), to, backuptarget.Options{})
			if err != nil {
				t.Fatal(err)
			}
			list, err := tg.List(t.Context())
			if err != nil || len(list) != 2 {
				t.Fatalf("kept %v, %v; want 2", list, err)
			}
			file, fdone, err := backuptarget.Fetch(t.Context(), list[0].Location, backuptarget.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer fdone()
			if m, err := VerifyBackup(file, testPassphrase); err != nil || !m.KeyIncluded {
				t.Errorf("the newest scheduled backup: %+v, %v", m, err)
			}
			audit, err := a.store.Audit(store.AuditFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var ok int
			for _, e := range audit {
				if e.Action == "backup succeeded" && e.Via == "schedule" && strings.HasPrefix(e.Detail, backuptarget.Prefix) {
					ok++
				}
				if strings.Contains(e.Detail, testPassphrase) {
					t.Errorf("the audit log shows the passphrase: %+v", e)
				}
			}
			if ok < 4 {
				t.Errorf("%d backups in the audit log: %+v", ok, audit)
			}
		})
	}
}

// TestScheduledBackupFailure: a backup that fails (the target's disk is
// full) counts as failed, records why, leaves no partial backup and does
// not delete the good ones.
func TestScheduledBackupFailure(t *testing.T) {
	a, _ := backupAgent(t)
	dir := filepath.Join(t.TempDir(), "backups")
	b, err := newBackupScheduler(a, BackupSchedule{Every: "1h", To: dir, Keep: 1}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	b.once(t.Context())
	good, _ := filepath.Glob(filepath.Join(dir, "pier-backup-*"))
	if len(good) != 1 {
		t.Fatalf("first backup: %v", good)
	}
	// The disk fills: the target's writes fail midway.
	if err := os.WriteFile(filepath.Join(a.dirs.slugs, "big.tar.gz"), make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	tg, _ := backuptarget.Open(t.Context(), dir, backuptarget.Options{})
	_, _, err = a.backupTo(t.Context(), fullAfter{tg, 4 << 10}, api.BackupRequest{})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") || !strings.Contains(err.Error(), "nothing was kept") {
		t.Errorf("a backup onto a full disk: %v", err)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != 1 || filepath.Join(dir, after[0].Name()) != good[0] {
		t.Errorf("after a failed backup the target holds %v, had %v", after, good)
	}

	// And through the schedule: an unwritable target.
	b.cfg.To = filepath.Join(good[0], "sub") // under a file
	b.once(t.Context())
	if n := testutil.ToFloat64(b.total.WithLabelValues("failed")); n != 1 {
		t.Errorf("failed = %v", n)
	}
	audit, _ := a.store.Audit(store.AuditFilter{})
	if len(audit) == 0 || audit[len(audit)-1].Action != "backup failed" || audit[len(audit)-1].Status != 1 || !strings.Contains(audit[len(audit)-1].Detail, "not a directory") {
		t.Errorf("audit after a failure: %+v", audit)
	}
	if after, _ := os.ReadDir(dir); len(after) != 1 {
		t.Errorf("a failure changed the backups: %v", after)
	}
}

// fullAfter is a target whose disk fills after n bytes: writes then fail
// with ENOSPC, as on a full file system.
type fullAfter struct {
	backuptarget.Target
	n int
}

func (f fullAfter) Create(ctx context.Context, name string) (backuptarget.Pending, error) {
	p, err := f.Target.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &fullPending{Pending: p, left: f.n}, nil
}

type fullPending struct {
	backuptarget.Pending
	left int
}

func (p *fullPending) Write(b []byte) (int, error) {
	if len(b) > p.left {
		n, _ := p.Pending.Write(b[:p.left])
		p.left = 0
		return n, &os.PathError{Op: "write", Path: p.Path(), Err: syscall.ENOSPC}
	}
	p.left -= len(b)
	return p.Pending.Write(b)
}

var _ io.Writer = (*fullPending)(nil)
