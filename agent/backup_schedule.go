package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/pierhq/pier/agent/backuptarget"
	"github.com/pierhq/pier/api"
)

// BackupSchedule is the agent's scheduled backups (--backup-schedule,
// --backup-to, --backup-keep, --backup-include-key).
type BackupSchedule struct {
	// Every is an interval ("6h") or a cron expression ("0 3 * * *",
	// "@daily"), in the agent's local time zone.
	Every string
	// To is a directory, s3://bucket/prefix or gs://bucket/prefix.
	To string
	// Keep is how many of the newest backups stay; older ones go.
	Keep int
	// IncludeKey puts the secret key into each backup; it needs Passphrase.
	IncludeKey bool
	// Passphrase encrypts each backup ("" leaves them plain).
	Passphrase string
}

// DefaultBackupKeep is BackupSchedule.Keep when it is 0.
const DefaultBackupKeep = 7

// minBackupInterval is the shortest interval taken.
const minBackupInterval = time.Second

// backupScheduler makes a backup at each time of its schedule, one at a
// time, and deletes the oldest beyond Keep after each good one. A failed
// backup deletes nothing. It runs until the agent's context ends.
type backupScheduler struct {
	a     *Agent
	cfg   BackupSchedule
	sched cron.Schedule

	lastSuccess prometheus.Gauge
	interval    prometheus.Gauge
	total       *prometheus.CounterVec // result: succeeded, failed
}

// parseBackupEvery reads an interval or a cron expression.
func parseBackupEvery(s string) (cron.Schedule, error) {
	if d, err := time.ParseDuration(s); err == nil {
		if d < minBackupInterval {
			return nil, fmt.Errorf("--backup-schedule %s is too often: give at least %v", s, minBackupInterval)
		}
		return cron.Every(d), nil
	}
	sched, err := cron.ParseStandard(s)
	if err != nil {
		return nil, fmt.Errorf("--backup-schedule %q is neither an interval (6h, 30m) nor a cron expression (\"0 3 * * *\", @daily): %v", s, err)
	}
	return sched, nil
}

// newBackupScheduler checks cfg; nil when no schedule is set.
func newBackupScheduler(a *Agent, cfg BackupSchedule, reg prometheus.Registerer) (*backupScheduler, error) {
	if cfg.Every == "" {
		if cfg.To != "" {
			return nil, errors.New("--backup-to needs --backup-schedule (an interval like 6h, or a cron expression)")
		}
		return nil, nil
	}
	sched, err := parseBackupEvery(cfg.Every)
	if err != nil {
		return nil, err
	}
	if cfg.To == "" {
		return nil, errors.New("--backup-schedule needs --backup-to DIR, s3://bucket/prefix or gs://bucket/prefix")
	}
	if cfg.Keep == 0 {
		cfg.Keep = DefaultBackupKeep
	}
	if cfg.Keep < 0 {
		return nil, fmt.Errorf("--backup-keep %d: keep at least 1", cfg.Keep)
	}
	if err := checkBackupRequest(api.BackupRequest{IncludeKey: cfg.IncludeKey, Passphrase: cfg.Passphrase}); err != nil {
		return nil, err
	}
	b := &backupScheduler{
		a: a, cfg: cfg, sched: sched,
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pier_backup_last_success_timestamp_seconds",
			Help: "When the newest good backup in --backup-to was made (Unix time); the agent's start when there is none yet.",
		}),
		interval: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "pier_backup_interval_seconds",
			Help: "The time between two scheduled backups (--backup-schedule).",
		}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_backups_total",
			Help: "Scheduled backups that ended, by result (succeeded, failed).",
		}, []string{"result"}),
	}
	b.total.WithLabelValues("succeeded")
	b.total.WithLabelValues("failed")
	if reg != nil {
		reg.MustRegister(b.lastSuccess, b.interval, b.total)
	}
	now := time.Now()
	next := sched.Next(now)
	b.interval.Set(sched.Next(next).Sub(next).Seconds())
	b.lastSuccess.Set(float64(now.Unix()))
	return b, nil
}

// run makes the backups until ctx ends.
func (b *backupScheduler) run(ctx context.Context) {
	b.a.log.Info("scheduled backups", "every", b.cfg.Every, "to", b.cfg.To, "keep", b.cfg.Keep, "key", b.cfg.IncludeKey)
	b.readLast(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		timer.Reset(time.Until(b.sched.Next(time.Now())))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		b.once(ctx)
	}
}

// readLast sets the last-success gauge from the newest backup already in
// the target, so the age of the last good backup survives a restart.
func (b *backupScheduler) readLast(ctx context.Context) {
	tg, err := backuptarget.Open(ctx, b.cfg.To, b.targetOptions())
	if err != nil {
		b.a.log.Warn("scheduled backups: cannot read the backups already made", "to", b.cfg.To, "err", err)
		return
	}
	list, err := tg.List(ctx)
	if err == nil && len(list) > 0 {
		b.lastSuccess.Set(float64(list[0].Time.Unix()))
	}
}

func (b *backupScheduler) targetOptions() backuptarget.Options {
	return backuptarget.Options{TempDir: b.a.dirs.tmp}
}

// backupTimeout bounds one scheduled backup: the time to the next one,
// and at least 10 minutes.
func (b *backupScheduler) backupTimeout() time.Duration {
	now := time.Now()
	return max(b.sched.Next(now).Sub(now), 10*time.Minute)
}

// once makes one backup and prunes the old ones after a good one.
func (b *backupScheduler) once(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, b.backupTimeout())
	defer cancel()
	start := time.Now()
	tg, name, err := b.backup(ctx)
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return // the agent is stopping
	}
	if err != nil {
		b.total.WithLabelValues("failed").Inc()
		b.a.log.Error("scheduled backup failed", "to", b.cfg.To, "err", err)
		b.a.platformEvent("backup failed", b.cfg.To, 1, err.Error())
		b.a.events.addData("", api.EventBackupFailed, "", api.EventData{"to": b.cfg.To, "reason": err.Error()}, "Scheduled backup to %s failed: %v", b.cfg.To, err)
		return
	}
	took := time.Since(start).Round(time.Millisecond)
	b.total.WithLabelValues("succeeded").Inc()
	b.lastSuccess.Set(float64(start.Unix()))
	msg := fmt.Sprintf("%s in %v", name, took)
	deleted, err := backuptarget.Prune(ctx, tg, b.cfg.Keep)
	if len(deleted) > 0 {
		msg += fmt.Sprintf("; deleted the oldest beyond %d: %s", b.cfg.Keep, strings.Join(deleted, ", "))
	}
	if err != nil {
		msg += "; deleting the old backups failed: " + err.Error()
		b.a.log.Warn("scheduled backup: deleting the old backups failed", "to", b.cfg.To, "err", err)
	}
	b.a.log.Info("scheduled backup made", "to", b.cfg.To, "backup", name, "took", took, "deleted", len(deleted))
	b.a.platformEvent("backup succeeded", b.cfg.To, 0, msg)
	b.a.events.addData("", api.EventBackupSucceeded, "", api.EventData{"to": b.cfg.To, "backup": name}, "Scheduled backup %s", msg)
}

// backup makes one backup into the target.
func (b *backupScheduler) backup(ctx context.Context) (backuptarget.Target, string, error) {
	tg, err := backuptarget.Open(ctx, b.cfg.To, b.targetOptions())
	if err != nil {
		return nil, "", err
	}
	req := api.BackupRequest{IncludeKey: b.cfg.IncludeKey, Passphrase: b.cfg.Passphrase}
	name, _, err := b.a.backupTo(ctx, tg, req)
	return tg, name, err
}
