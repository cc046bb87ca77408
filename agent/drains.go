package agent

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

// Log drains: each drain has a worker that takes the app's lines (its
// processes' from the scheduler, its router and platform lines from the
// logbook) into a bounded buffer and sends them on. Taking a line never
// waits: when the buffer is full the line is dropped and counted, so a
// slow or dead drain never slows the app, the proxy or the agent.

// drainBuffer is how many lines a drain holds while it cannot send.
const drainBuffer = 10000

// drainManager runs the drains' workers. Its goroutines stop with the
// agent's context.
type drainManager struct {
	store    *store.Store
	sched    scheduler.Scheduler
	logs     *logbook
	events   *eventLog
	guard    webhookGuard
	tls      *tls.Config // roots to trust (the system's, plus --drain-ca-file)
	hostname string
	logf     func(format string, args ...any)

	sent, dropped *prometheus.CounterVec

	ctx context.Context
	wg  *sync.WaitGroup

	mu      sync.Mutex
	workers map[string]*drainWorker
}

func newDrainManager(a *Agent) (*drainManager, error) {
	roots, err := x509.SystemCertPool()
	if err != nil {
		roots = x509.NewCertPool()
	}
	if f := a.cfg.DrainCAFile; f != "" {
		pem, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("reading --drain-ca-file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--drain-ca-file %s holds no PEM certificate", f)
		}
	}
	host, _ := os.Hostname()
	return &drainManager{
		store: a.store, sched: a.sched, logs: a.logs, events: a.events, guard: a.newWebhookGuard(),
		tls: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, hostname: host, logf: a.logf,
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_drain_sent_lines_total", Help: "Log lines a log drain sent.",
		}, []string{"app", "drain"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_drain_dropped_lines_total", Help: "Log lines a log drain dropped: its buffer was full (the drain slow or down) or sending failed.",
		}, []string{"app", "drain"}),
		ctx: a.ctx, wg: &a.wg, workers: map[string]*drainWorker{},
	}, nil
}

func (m *drainManager) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.sent, m.dropped}
}

// startAll starts a worker for every drain in the store.
func (m *drainManager) startAll() {
	ds, err := m.store.Drains("")
	if err != nil {
		m.logf("reading the log drains: %v", err)
		return
	}
	for _, d := range ds {
		m.start(d)
	}
}

// start starts d's worker.
func (m *drainManager) start(d api.Drain) {
	target, err := m.store.DrainTarget(d.ID)
	if err != nil {
		m.logf("log drain %s of %s: %v", d.ID, d.App, err)
		return
	}
	u, err := url.Parse(target)
	if err != nil {
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	w := &drainWorker{m: m, d: d, target: u, buf: make(chan string, drainBuffer), cancel: cancel}
	m.mu.Lock()
	if old := m.workers[d.ID]; old != nil {
		old.cancel()
	}
	m.workers[d.ID] = w
	m.mu.Unlock()
	m.wg.Add(1)
	go func() { defer m.wg.Done(); w.run(ctx) }()
}

// stop ends the worker of drain id.
func (m *drainManager) stop(id string) {
	m.mu.Lock()
	w := m.workers[id]
	delete(m.workers, id)
	m.mu.Unlock()
	if w != nil {
		w.cancel()
	}
}

// status fills in d's counters.
func (m *drainManager) status(d *api.Drain) {
	m.mu.Lock()
	w := m.workers[d.ID]
	m.mu.Unlock()
	if w == nil {
		return
	}
	d.Sent, d.Dropped = w.sent.Load(), w.dropped.Load()
	w.mu.Lock()
	d.LastError = w.lastErr
	w.mu.Unlock()
}

// drainWorker feeds one drain.
type drainWorker struct {
	m      *drainManager
	d      api.Drain
	target *url.URL
	buf    chan string
	cancel context.CancelFunc

	sent, dropped atomic.Uint64
	mu            sync.Mutex
	lastErr       string
}

// offer takes a line without waiting: a full buffer drops it.
func (w *drainWorker) offer(line string) {
	select {
	case w.buf <- line:
	default:
		w.drop(1)
	}
}

func (w *drainWorker) drop(n int) {
	w.dropped.Add(uint64(n))
	w.m.dropped.WithLabelValues(w.d.App, w.d.ID).Add(float64(n))
}

func (w *drainWorker) sentLines(n int) {
	w.sent.Add(uint64(n))
	w.m.sent.WithLabelValues(w.d.App, w.d.ID).Add(float64(n))
}

func (w *drainWorker) fail(err error) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the URL may hold a credential
	}
	w.mu.Lock()
	w.lastErr = err.Error()
	w.mu.Unlock()
}

func (w *drainWorker) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); w.followBook(ctx) }()
	go func() { defer wg.Done(); w.followProcesses(ctx) }()
	go func() { defer wg.Done(); w.watchDrops(ctx) }()
	switch w.target.Scheme {
	case "https", "http":
		w.sendHTTPS(ctx)
	default:
		w.sendSyslog(ctx, w.target.Scheme == "syslog+tls")
	}
	wg.Wait()
}

// followBook takes the app's router and platform lines.
func (w *drainWorker) followBook(ctx context.Context) {
	lines, stop := w.m.logs.follow(w.d.App)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case l := <-lines:
			w.offer(l)
		}
	}
}

// followProcesses takes the app's process lines, following the
// scheduler's log again when its stream ends.
func (w *drainWorker) followProcesses(ctx context.Context) {
	for ctx.Err() == nil {
		rc, err := w.m.sched.Logs(ctx, w.d.App, scheduler.LogOptions{Lines: -1, Follow: true})
		if err == nil {
			sc := bufio.NewScanner(rc)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				w.offer(sc.Text())
			}
			rc.Close()
		}
		_ = sleep(ctx, 2*time.Second)
	}
}

// watchDrops records a drain.dropped event when lines were dropped, at
// most once a minute, and ends the worker when its drain is gone (its
// app was destroyed).
func (w *drainWorker) watchDrops(ctx context.Context) {
	var reported uint64
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	last := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := w.m.store.DrainTarget(w.d.ID); errors.Is(err, store.ErrDrainNotFound) {
			w.m.stop(w.d.ID)
			return
		}
		n := w.dropped.Load()
		if n > reported && time.Since(last) >= time.Minute {
			w.mu.Lock()
			why := w.lastErr
			w.mu.Unlock()
			w.m.events.addData(w.d.App, api.EventDrainDropped, "", api.EventData{"drain": w.d.ID, "dropped": fmt.Sprint(n - reported), "reason": why},
				"Log drain %s (%s) dropped %d lines: it is slow or down", w.d.ID, w.d.URL, n-reported)
			reported, last = n, time.Now()
		}
	}
}
