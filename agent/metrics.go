package agent

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy/certs"
	"github.com/pierhq/pier/scheduler"
)

// The agent's own series (docs/observability.md): deploys and their
// phases, counted as they happen, and, read at each scrape, the instances
// the scheduler runs, the certificates and the agent's build.

// Deploy results, and their causes.
const (
	deploySucceeded  = "succeeded"   // causes: push, config, rollback
	deployFailed     = "failed"      // causes: build, release_command, start, health_check, watch, other
	deployRolledBack = "rolled_back" // rolled back automatically; causes: crash, errors
)

// platformMetrics are the deployer's series; nil counts nothing.
type platformMetrics struct {
	deploys *prometheus.CounterVec   // app, result, cause
	phases  *prometheus.HistogramVec // app, phase
}

func newPlatformMetrics() *platformMetrics {
	return &platformMetrics{
		deploys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pier_deploys_total",
			Help: "Deploys that ended, by app, result (succeeded, failed, rolled_back) and cause.",
		}, []string{"app", "result", "cause"}),
		phases: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pier_deploy_phase_duration_seconds",
			Help:    "Time each phase of a deploy took: build, release_command, start, health_check.",
			Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"app", "phase"}),
	}
}

func (m *platformMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.deploys, m.phases}
}

// deployEnded counts one deploy of app.
func (m *platformMetrics) deployEnded(app, result, cause string) {
	if m != nil {
		m.deploys.WithLabelValues(app, result, cause).Inc()
	}
}

// phase records how long a phase of a deploy of app took since start.
func (m *platformMetrics) phase(app, phase string, start time.Time) {
	if m != nil {
		m.phases.WithLabelValues(app, phase).Observe(time.Since(start).Seconds())
	}
}

// forget drops the series of a destroyed app.
func (m *platformMetrics) forget(app string) {
	if m != nil {
		m.deploys.DeletePartialMatch(prometheus.Labels{"app": app})
		m.phases.DeletePartialMatch(prometheus.Labels{"app": app})
	}
}

// stateCollector reads, at each scrape, what runs and the certificates.
type stateCollector struct {
	a *Agent

	up, restarts, oomKills, memory, memoryLimit, cpu, certExpiry, certFailing, buildInfo *prometheus.Desc
	storeSize, diskFree, diskSize                                                        *prometheus.Desc
}

// scrapeTimeout bounds what a scrape asks the scheduler.
const scrapeTimeout = 5 * time.Second

func newStateCollector(a *Agent) *stateCollector {
	inst := []string{"app", "release", "slot", "process_type", "instance"}
	return &stateCollector{
		a:           a,
		up:          prometheus.NewDesc("pier_instance_up", "1 while an instance is up, 0 while it starts or has crashed.", inst, nil),
		restarts:    prometheus.NewDesc("pier_instance_restarts_total", "Times an instance was started again after it crashed.", inst, nil),
		oomKills:    prometheus.NewDesc("pier_instance_oom_kills_total", "Times an instance was killed over its memory limit (R15).", inst, nil),
		memory:      prometheus.NewDesc("pier_instance_memory_bytes", "An instance's memory as last measured: PSS of its processes (local scheduler, instances with a limit) or resident memory (Nomad).", inst, nil),
		memoryLimit: prometheus.NewDesc("pier_instance_memory_limit_bytes", "The memory limit of an instance's process type.", inst, nil),
		cpu:         prometheus.NewDesc("pier_instance_cpu_seconds_total", "CPU time an instance's processes used: measured since it last started (local scheduler), or estimated at each scrape from the share of a core its Nomad client reports.", inst, nil),
		certExpiry:  prometheus.NewDesc("pier_cert_expiry_timestamp_seconds", "When the certificate of a host expires, in Unix seconds.", []string{"host"}, nil),
		certFailing: prometheus.NewDesc("pier_cert_renewal_failing", "1 while obtaining or renewing the certificate of a host fails.", []string{"host"}, nil),
		buildInfo:   prometheus.NewDesc("pier_agent_build_info", "Always 1; the agent's version and Go's.", []string{"version", "goversion"}, nil),
		storeSize:   prometheus.NewDesc("pier_store_size_bytes", "The size of the store's file (pier.db).", nil, nil),
		diskFree:    prometheus.NewDesc("pier_data_dir_available_bytes", "Bytes available to the agent on the data dir's filesystem.", nil, nil),
		diskSize:    prometheus.NewDesc("pier_data_dir_filesystem_bytes", "The size of the data dir's filesystem.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.restarts, c.oomKills, c.memory, c.memoryLimit, c.cpu, c.certExpiry, c.certFailing, c.buildInfo, c.storeSize, c.diskFree, c.diskSize} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.buildInfo, prometheus.GaugeValue, 1, c.a.cfg.Version, runtime.Version())
	if fi, err := os.Stat(c.a.store.Path()); err == nil {
		ch <- prometheus.MustNewConstMetric(c.storeSize, prometheus.GaugeValue, float64(fi.Size()))
	}
	var fs unix.Statfs_t
	if err := unix.Statfs(c.a.dirs.root, &fs); err == nil {
		ch <- prometheus.MustNewConstMetric(c.diskFree, prometheus.GaugeValue, float64(fs.Bavail)*float64(fs.Bsize))
		ch <- prometheus.MustNewConstMetric(c.diskSize, prometheus.GaugeValue, float64(fs.Blocks)*float64(fs.Bsize))
	}
	apps, err := c.a.store.ListApps()
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(c.a.ctx, scrapeTimeout)
	defer cancel()
	var hosts []string
	for _, app := range apps {
		hosts = append(hosts, appHosts(c.a.store, c.a.cfg, app.Name)...)
		insts, err := c.a.sched.Instances(ctx, app.Name)
		if err != nil {
			continue
		}
		if m := measurerOf(c.a.sched); m != nil {
			m.Measure(ctx, insts)
		}
		for _, in := range insts {
			c.instance(ch, in)
		}
	}
	if c.a.certs != nil {
		c.certs(ch, c.a.certs.Status(hosts...))
	}
}

func (c *stateCollector) instance(ch chan<- prometheus.Metric, in scheduler.Instance) {
	l := []string{in.App, "v" + strconv.Itoa(in.Release), in.Slot, in.Type, in.Name()}
	up := 0.0
	if in.State == api.StateUp {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, l...)
	ch <- prometheus.MustNewConstMetric(c.restarts, prometheus.CounterValue, float64(in.Restarts), l...)
	ch <- prometheus.MustNewConstMetric(c.oomKills, prometheus.CounterValue, float64(in.OOMKills), l...)
	if in.CPUKnown {
		ch <- prometheus.MustNewConstMetric(c.cpu, prometheus.CounterValue, in.CPU, l...)
	}
	if in.MemoryLimit > 0 {
		ch <- prometheus.MustNewConstMetric(c.memoryLimit, prometheus.GaugeValue, float64(in.MemoryLimit), l...)
		ch <- prometheus.MustNewConstMetric(c.memory, prometheus.GaugeValue, float64(in.Memory), l...)
	}
}

func (c *stateCollector) certs(ch chan<- prometheus.Metric, st []certs.Status) {
	for _, s := range st {
		if !s.NotAfter.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.certExpiry, prometheus.GaugeValue, float64(s.NotAfter.Unix()), s.Host)
		}
		failing := 0.0
		if s.Status == "failing" {
			failing = 1
		}
		ch <- prometheus.MustNewConstMetric(c.certFailing, prometheus.GaugeValue, failing, s.Host)
	}
}

// measurerOf returns s as a scheduler that measures its instances only when
// asked (Nomad), or nil when s measures them itself (local).
func measurerOf(s scheduler.Scheduler) scheduler.Measurer {
	if w, ok := s.(*swapScheduler); ok {
		s = w.get()
	}
	m, _ := s.(scheduler.Measurer)
	return m
}
