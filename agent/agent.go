package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"

	"github.com/cloudflare/tableflip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/pierhq/pier/agent/gitserver"
	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/dashboard"
	"github.com/pierhq/pier/proxy"
	"github.com/pierhq/pier/proxy/certs"
	"github.com/pierhq/pier/scheduler"
)

// Agent is the running daemon.
type Agent struct {
	cfg  Config
	dirs dirs
	iso  isolation
	log  *slog.Logger

	store  *store.Store
	sched  scheduler.Scheduler
	deploy *deployer // builds, releases, deploys and runs the operations on apps
	events *eventLog
	dash   *dashboard.Dashboard // the web pages, on the API's mux
	addons *addonService
	// webhooks delivers the events' outbox to webhooks.
	webhooks *webhookSender
	// drains send the apps' log lines to syslog and HTTPS drains.
	drains *drainManager
	sentry *sentryReporter // nil without --sentry-dsn
	// sentryReleases tells apps' Sentry projects of their releases.
	sentryReleases *sentryReleases
	builder        *buildpacks.Builder
	edge           *proxy.Edge    // the proxy, its servers and their certificates
	table          *routeTable    // the desired routes the edge follows
	certs          *certs.Manager // nil while HTTPS is off
	logs           *logbook
	git            *gitserver.Server
	sshd           *gitserver.SSHServer // nil when SSH is off
	hook           *gitserver.Hook      // the agent's half of the pre-receive hook
	guard          *authGuard           // slows and refuses clients that fail token checks
	backups        *backupScheduler     // nil without --backup-schedule
	// key seals secrets at rest: the store's config vars, the scheduler's
	// state. prevKey is the key before a rotation this agent finished, for
	// a scheduler state not yet sealed anew. keyMu guards both.
	keyMu   sync.Mutex
	key     []byte
	prevKey []byte
	apiURL  string // where hooks reach the API
	api     http.Handler
	metrics http.Handler
	traffic *trafficSampler // pier metrics: the proxy's series, sampled
	feeds   *deployFeeds    // each app's push output, for the live deploy view
	usage   *usageCounter   // pier usage: requests, visitors, codes, bytes per app and day
	// handoversFailed counts SIGHUP handovers after which this agent went
	// on (upgrade.go): `pier upgrade` watches it to roll back at once.
	handoversFailed prometheus.Counter

	ctx    context.Context // the agent's lifetime
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type dirs struct {
	root, slugs, cache, tmp, repos, logs, local, buildpacks, certs string
	addons, addonBackupsRoot                                       string
}

func newDirs(root string) dirs {
	j := func(s string) string { return filepath.Join(root, s) }
	return dirs{root: root, slugs: j("slugs"), cache: j("cache"), tmp: j("tmp"), repos: j("repos"),
		logs: j("logs"), local: j("local"), buildpacks: j("buildpacks"), certs: j("certs"),
		addons: j("addons"), addonBackupsRoot: j("addon-backups")}
}

// Run starts the agent and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	cfg.Defaults()
	// git, the hooks and the apps run in other directories: every path the
	// agent hands out must be absolute.
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	cfg.DataDir = abs
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	a, err := open(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	defer a.sentry.flush()
	defer func() {
		if v := recover(); v != nil {
			a.sentry.recovered("agent", v)
			panic(v)
		}
	}()
	return a.serve(ctx)
}

// open prepares the data dir, the store, the admin token and the parts.
func open(cfg Config, log *slog.Logger) (*Agent, error) {
	d := newDirs(cfg.DataDir)
	if err := os.MkdirAll(d.root, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", d.root, err)
	}
	iso := detectIsolation(d.root)
	if err := d.prepare(iso); err != nil {
		return nil, fmt.Errorf("preparing the data dir: %w", err)
	}
	if iso.on {
		if err := limitProcesses(cfg.ProcessLimit); err != nil {
			return nil, fmt.Errorf("limiting the apps' processes to %d: %w", cfg.ProcessLimit, err)
		}
		log.Info("apps are isolated: each runs as a user of its own, and builds as another", "uids", cfg.UIDs.String(), "process-limit", cfg.ProcessLimit)
	} else {
		log.Warn("apps are NOT isolated from the agent or from each other: they run as the agent's user and can read its data dir", "why", iso.why)
	}
	st, key, previous, err := openStore(d, cfg, log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	a := &Agent{
		cfg: cfg, dirs: d, iso: iso, log: log, store: st, ctx: ctx, cancel: cancel, key: key, prevKey: previous,
	}
	if a.sentry, err = newSentryReporter(cfg); err != nil {
		a.close()
		return nil, err
	}
	a.table = newRouteTable(a)
	if err := a.ensureAdminToken(); err != nil {
		a.close()
		return nil, err
	}
	if err := a.openParts(); err != nil {
		a.close()
		return nil, err
	}
	// The store is ours now, so no agent before this one builds any more:
	// what its builds left (a crash's) goes.
	a.reapBuilds()
	return a, nil
}

func (a *Agent) openParts() error {
	var err error
	a.logs, err = newLogbook(a.dirs.logs)
	if err != nil {
		return err
	}
	sched, err := a.newScheduler()
	if err != nil {
		return fmt.Errorf("starting the %s scheduler: %w", a.cfg.Scheduler, err)
	}
	a.sched = &swapScheduler{s: sched}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	a.builder = &buildpacks.Builder{SlugDir: a.dirs.slugs, CacheDir: a.dirs.cache, WorkDir: a.dirs.tmp, PluginDir: a.dirs.buildpacks, Executable: exe, Timeout: a.cfg.BuildTimeout, Logf: a.logf}
	appExists := func(app string) bool { _, err := a.store.GetApp(app); return err == nil }
	a.feeds = newDeployFeeds()
	a.usage = newUsageCounter(a.store, a.logf)
	a.hook = &gitserver.Hook{
		Executable: exe,
		URL:        func() string { return a.apiURL },
		Token:      randomHex(32),
		AppExists:  appExists,
		Push: func(ctx context.Context, p gitserver.Push, out io.Writer) error {
			feed := a.feeds.begin(p.App)
			err := a.deploy.pushDeploy(ctx, p, io.MultiWriter(out, feed))
			live := 0
			if app, gerr := a.store.GetApp(p.App); gerr == nil {
				live = app.LiveRelease
			}
			feed.done(live, err)
			return err
		},
	}
	a.git = &gitserver.Server{
		Root:      a.dirs.repos,
		SpoolDir:  a.dirs.tmp,
		Authorize: a.gitAuthorize,
		AppExists: appExists,
		HookEnv:   a.hook.Env,
		Logf:      a.logf,
	}
	a.sshd = a.newSSHServer()
	a.guard = newAuthGuard(a.logf)
	a.events = &eventLog{store: a.store, logs: a.logs, logf: a.logf}
	a.webhooks = newWebhookSender(a.store, a.newWebhookGuard(), a.cfg.WebhookRetry, a.cfg.webURL, a.logf)
	a.events.notify = a.webhooks.poke
	a.sentryReleases = newSentryReleases(a.store, a.newWebhookGuard(), a.logf)
	a.events.observe = a.sentryReleases.observe
	a.api = a.routes()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(a.guard.collectors()...)
	platform := newPlatformMetrics()
	reg.MustRegister(platform.collectors()...)
	reg.MustRegister(newStateCollector(a))
	reg.MustRegister(a.table.switches)
	a.handoversFailed = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "pier_agent_handovers_failed_total",
		Help: "Handovers to a new agent (SIGHUP) that failed, after which this agent went on.",
	})
	reg.MustRegister(a.handoversFailed)
	if a.backups, err = newBackupScheduler(a, a.cfg.Backup, reg); err != nil {
		return err
	}
	// The edge's series have a registry of their own: the traffic sampler
	// reads them often (every sample, every `pier metrics` and dashboard
	// page) and must not gather the rest, whose collectors ask the
	// scheduler about every app.
	edgeReg := prometheus.NewRegistry()
	a.metrics = promhttp.HandlerFor(prometheus.Gatherers{reg, edgeReg}, promhttp.HandlerOpts{})
	a.traffic = &trafficSampler{gather: edgeReg, states: a.appStates, hist: newTrafficHistory()}
	if a.drains, err = newDrainManager(a); err != nil {
		return err
	}
	reg.MustRegister(a.drains.collectors()...)
	reg.MustRegister(a.webhooks.collectors()...)
	if a.cfg.HTTPSAddr != "" {
		if a.certs, err = a.newCertManager(); err != nil {
			return fmt.Errorf("setting up HTTPS: %w", err)
		}
	}
	if a.edge, err = a.newEdge(edgeReg); err != nil {
		return err
	}
	a.deploy = &deployer{
		cfg: a.cfg, dirs: a.dirs, store: a.store, sched: a.sched, builder: a.builder, git: a.git,
		routes: a.table, health: a.edge, traffic: a.edge.Proxy(), certs: a.certs, events: a.events, logs: a.logs, logf: a.logf,
		identities: a.identities, slugURL: a.slugURL, metrics: platform,
		ctx: a.ctx, wg: &a.wg,
		locks: map[string]chan struct{}{}, watches: map[string]*watch{}, canaries: map[string]*watch{},
		counts: a.traffic.read,
	}
	return a.openAddons()
}

// newEdge builds the edge: the proxy with the API on the control host, its
// servers, and the certificates when HTTPS is on. It follows the agent's
// route table.
func (a *Agent) newEdge(reg prometheus.Registerer) (*proxy.Edge, error) {
	cfg := proxy.EdgeConfig{
		Proxy: proxy.Config{
			Domain:      a.cfg.Domain,
			ControlHost: a.cfg.controlHost(),
			Control:     a.api,
			OnRequest: func(rl proxy.RequestLog) {
				a.logs.addRouter(rl)
				a.usage.observe(rl)
			},
			Logf:       a.logf,
			Registerer: reg,

			TrustedProxies: a.cfg.TrustedProxies,
		},
		Source:   a.table.board,
		MaxConns: a.cfg.MaxConns,
	}
	if a.certs != nil {
		cfg.Certs = a.certs
	}
	return proxy.NewEdge(cfg)
}

// ensureAdminToken takes the bootstrap admin token: PIER_ADMIN_TOKEN, or
// the one in <data-dir>/admin.token, or a new one written there. The store
// takes a bootstrap secret once: one whose token was revoked stays revoked,
// and the agent starts without it.
func (a *Agent) ensureAdminToken() error {
	path := a.adminTokenPath()
	secret, from := a.cfg.AdminToken, "PIER_ADMIN_TOKEN"
	if secret == "" {
		if b, err := os.ReadFile(path); err == nil {
			secret, from = strings.TrimSpace(string(b)), path
		}
	}
	if secret != "" {
		_, err := a.store.ImportBootstrapToken("admin", secret)
		if errors.Is(err, store.ErrTokenRevoked) {
			a.log.Warn("the admin token was revoked and does not work: use another token (pier tokens rotate-admin makes a new one), or remove "+path+" and restart to have one made", "from", from)
			return nil
		}
		return err
	}
	t, err := a.store.CreateBootstrapToken("admin")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, []byte(t.Secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the admin token: %w", err)
	}
	a.log.Info("created the admin API token", "file", path)
	return nil
}

func (a *Agent) adminTokenPath() string { return filepath.Join(a.dirs.root, "admin.token") }

// serve listens, reconciles with what runs, and serves until ctx is done.
func (a *Agent) serve(ctx context.Context) error {
	upg := a.newUpgrader()
	if upg != nil {
		defer upg.Stop()
	}
	lns, err := a.listen(upg)
	if err != nil {
		return err
	}
	a.apiURL = "http://" + loopbackAddr(lns.api.Addr())
	a.wg.Add(2)
	go func() { defer a.wg.Done(); a.logs.run(a.ctx) }()
	go func() { defer a.wg.Done(); a.table.run() }()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.traffic.run(a.ctx) }()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.usage.run(a.ctx) }()
	a.deploy.reconcile()
	a.wg.Add(1)
	go func() { defer a.wg.Done(); a.restoreAddons(a.ctx) }()
	a.wg.Add(1)
	go a.deploy.janitor()
	if a.backups != nil {
		a.wg.Add(1)
		go func() { defer a.wg.Done(); a.backups.run(a.ctx) }()
	}
	a.startNotifications()

	api := proxy.NewServer(a.api, lns.api.Addr().String())
	servers := []interface{ Shutdown(context.Context) error }{api, a.edge}
	serveErr := make(chan error, 3)
	go func() { serveErr <- api.Serve(lns.api) }()
	go func() { serveErr <- a.edge.Serve(lns.http, lns.https) }()
	if lns.https != nil {
		a.manageAllCerts()
	}
	if lns.ssh != nil {
		go func() { serveErr <- a.sshd.Serve(lns.ssh) }()
		a.log.Info("git over SSH", "addr", lns.ssh.Addr().String())
	}
	a.log.Info("pier agent ready", "api", a.apiURL, "http", lns.http.Addr().String(), "domain", a.cfg.Domain,
		"scheduler", a.cfg.Scheduler, "data", a.dirs.root)
	a.wg.Add(1)
	go a.watchHangups(a.ctx, upg)
	if upg != nil {
		if err := upg.Ready(); err != nil {
			return fmt.Errorf("telling the agent before that this one is ready: %w", err)
		}
	}
	var runErr error
	select {
	case <-ctx.Done():
	case <-exitOf(upg):
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = err
		}
	}
	a.log.Info("pier agent stopping")
	a.table.endWatches() // edges elsewhere get the routes as they are now
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range servers {
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Shutdown(shutdownCtx) }()
	}
	if lns.ssh != nil {
		wg.Add(1)
		go func() { defer wg.Done(); _ = a.sshd.Shutdown(shutdownCtx) }()
	}
	wg.Wait()
	return runErr
}

type listeners struct{ api, http, https, ssh net.Listener }

func (a *Agent) listen(upg *tableflip.Upgrader) (listeners, error) {
	var l listeners
	var err error
	if l.api, err = listenOn(upg, a.cfg.APIAddr); err != nil {
		return l, fmt.Errorf("API address %s: %w", a.cfg.APIAddr, err)
	}
	if l.http, err = listenOn(upg, a.cfg.HTTPAddr); err != nil {
		l.api.Close()
		return l, fmt.Errorf("HTTP address %s: %w", a.cfg.HTTPAddr, err)
	}
	if a.cfg.HTTPSAddr != "" {
		if l.https, err = listenOn(upg, a.cfg.HTTPSAddr); err != nil {
			l.api.Close()
			l.http.Close()
			return l, fmt.Errorf("HTTPS address %s: %w", a.cfg.HTTPSAddr, err)
		}
	}
	if a.sshd != nil {
		if l.ssh, err = listenOn(upg, a.cfg.SSHAddr); err != nil {
			l.api.Close()
			l.http.Close()
			if l.https != nil {
				l.https.Close()
			}
			return l, fmt.Errorf("SSH address %s (--ssh-addr, or off): %w", a.cfg.SSHAddr, err)
		}
	}
	return l, nil // the edge caps its listeners' connections
}

func (a *Agent) close() {
	if a.cancel != nil {
		a.cancel()
	}
	a.wg.Wait()
	if a.edge != nil {
		a.edge.Close()
	}
	if a.certs != nil {
		a.certs.Close()
	}
	if a.sched != nil {
		a.sched.Close()
	}
	if a.addons != nil && a.addons.mgr != nil {
		a.addons.mgr.Close()
	}
	if a.store != nil {
		a.store.Close()
	}
}

func (a *Agent) logf(format string, args ...any) {
	a.log.Info(fmt.Sprintf(format, args...))
}

func (a *Agent) certEvent(host, msg string) {
	app := a.hostApp(host)
	if app == "" {
		a.logf("certificate of %s: %s", host, msg)
		return
	}
	switch {
	case strings.Contains(msg, "failed"):
		a.events.addData(app, api.EventCertFailed, "", api.EventData{"domain": host, "reason": msg}, "Certificate of %s: %s", host, msg)
	case strings.HasPrefix(msg, "certificate obtained"), strings.HasPrefix(msg, "certificate renewed"):
		a.events.addData(app, api.EventCertIssued, "", api.EventData{"domain": host}, "Certificate of %s: %s", host, msg)
	default:
		a.logs.add(app, "pier", "certificate of "+host+": "+msg)
	}
}

// hostApp returns the app a host routes to, or "".
func (a *Agent) hostApp(host string) string {
	if app, ok := strings.CutSuffix(host, "."+a.cfg.Domain); ok && appNameRE().MatchString(app) {
		return app
	}
	app, _ := a.store.DomainApp(host)
	return app
}

func (a *Agent) manageAllCerts() {
	var hosts []string
	if w := a.cfg.wildcardHost(); w != "" {
		hosts = append(hosts, w) // first: the hosts it covers get no certificate of their own
	}
	hosts = append(hosts, a.cfg.controlHost())
	apps, _ := a.store.ListApps()
	for _, app := range apps {
		hosts = append(hosts, appHosts(a.store, a.cfg, app.Name)...)
	}
	a.certs.Manage(a.ctx, hosts)
}

func (a *Agent) gitURL(app string) string { return a.apiURL + "/git/" + app + ".git" }

func portSuffix(addr, def string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == def {
		return ""
	}
	return ":" + port
}

func portOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n := atoiDefault(port, 0)
	return n
}

// loopbackAddr turns a wildcard listen address into one a local client dials.
func loopbackAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// writeFileAtomic writes a file that survives a crash whole or not at all
// (a temp file beside it, fsync, rename).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return renameio.WriteFile(path, data, mode)
}
