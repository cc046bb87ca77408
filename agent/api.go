package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/dashboard"
	"github.com/pierhq/pier/scheduler"
)

var appNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{1,29}$`) })

// reservedNames cannot be app names: pier.<domain> is the control host.
var reservedNames = map[string]bool{"pier": true, "www": true, "git": true}

// routes builds the agent's HTTP API from apiRoutes.
func (a *Agent) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", a.getReady)
	mux.Handle("POST /internal/push", a.hook)
	mux.HandleFunc("GET /slugs/{file}", a.serveSlug)
	mux.Handle("/git/", a.gitHandler())
	for _, rt := range apiRoutes {
		mux.Handle(rt.pattern, a.guarded(rt))
	}
	dash, err := a.newDashboard(mux)
	if err != nil {
		panic(err) // the embedded templates do not parse: a build mistake a test catches
	}
	a.dash = dash
	mux.Handle(dashboard.Prefix+"/", dash)
	mux.Handle("GET /{$}", http.RedirectHandler(dashboard.Prefix+"/", http.StatusSeeOther))
	return mux
}

func (a *Agent) getMetrics(w http.ResponseWriter, r *http.Request) error {
	a.metrics.ServeHTTP(w, r)
	return nil
}

func decode(r *http.Request, v any) error { return decodeBody(r.Body, v) }

// appOf loads the app named in the path.
func (a *Agent) appOf(r *http.Request) (api.App, error) {
	name := r.PathValue("app")
	if !appNameRE().MatchString(name) {
		return api.App{}, notFoundf("app %q not found", name)
	}
	app, err := a.store.GetApp(name)
	if errors.Is(err, store.ErrAppNotFound) {
		return api.App{}, notFoundf("app %q not found: see `pier apps list`", name)
	}
	return app, err
}

func (a *Agent) present(app api.App) api.App {
	app.GitURL = a.gitURL(app.Name)
	app.SSHURL = a.sshURL(app.Name)
	app.WebURL = a.cfg.webURL(app.Name)
	app.Isolation = a.iso.describe(app.UID, a.cfg.Scheduler)
	if ds, err := a.store.Domains(app.Name); err == nil {
		app.Domains = nil
		for _, d := range ds {
			app.Domains = append(app.Domains, d.Host)
		}
	}
	return app
}

func (a *Agent) getVersion(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, 200, api.Version{Version: a.cfg.Version, Scheduler: a.cfg.Scheduler, Domain: a.cfg.Domain, WatchWindow: api.Duration(a.cfg.WatchWindow)})
	return nil
}

// listApps lists the apps the caller may read.
func (a *Agent) listApps(w http.ResponseWriter, r *http.Request) error {
	apps, err := a.store.ListApps()
	if err != nil {
		return err
	}
	p := principalOf(r)
	out := make([]api.App, 0, len(apps))
	for _, app := range apps {
		if p.may(api.RoleRead, app.Name) {
			out = append(out, a.present(app))
		}
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *Agent) createApp(w http.ResponseWriter, r *http.Request) error {
	var req api.CreateAppRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	auditNote(r, req.Name, "")
	app, err := a.newApp(req.Name, userOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.present(app))
	return nil
}

// newApp makes an app: its record, its git repository and its user.
func (a *Agent) newApp(name, user string) (api.App, error) {
	if !appNameRE().MatchString(name) {
		return api.App{}, invalidf("%q is not a valid app name: use 2 to 30 lower-case letters, digits and dashes, starting with a letter", name)
	}
	if reservedNames[name] {
		return api.App{}, invalidf("%q is reserved by pier: choose another name", name)
	}
	app := api.App{Name: name, CreatedAt: time.Now().UTC()}
	if err := a.store.CreateApp(app); err != nil {
		if errors.Is(err, store.ErrAppExists) {
			return api.App{}, conflictf("an app named %q already exists", name)
		}
		return api.App{}, err
	}
	if err := a.git.EnsureRepo(name); err != nil {
		_ = a.store.DeleteApp(name)
		return api.App{}, fmt.Errorf("creating the git repository: %w", err)
	}
	run, _, err := a.identities(name)
	if err != nil {
		_ = a.store.DeleteApp(name)
		_ = a.git.RemoveRepo(name)
		return api.App{}, err
	}
	app.UID = run.UID
	a.events.add(name, api.EventAppCreated, user, "Created app %s", name)
	a.refreshRoutes()
	a.manageCerts(name)
	return app, nil
}

func (a *Agent) getApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.present(app))
	return nil
}

func (a *Agent) destroyApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	if err := a.addons.appDestroyed(r.Context(), app.Name); err != nil {
		return fmt.Errorf("destroying the add-ons of %s: %w", app.Name, err)
	}
	if err := a.deploy.destroy(r.Context(), app.Name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) listReleases(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	rels, err := a.store.ListReleases(app.Name)
	if err != nil {
		return err
	}
	if rels == nil {
		rels = []api.Release{}
	}
	writeJSON(w, 200, rels)
	return nil
}

// getConfigChanges names the config vars that differ between release
// ?from= and the release of the path: added, removed, and those whose
// value changed. Values never leave the agent.
func (a *Agent) getConfigChanges(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	version := func(s string) (int, error) {
		v, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
		if err != nil || v < 1 {
			return 0, invalidf("%q is not a release: write v1, v2, ... (or 1, 2, ...)", s)
		}
		return v, nil
	}
	to, err := version(r.PathValue("version"))
	if err != nil {
		return err
	}
	from, err := version(r.URL.Query().Get("from"))
	if err != nil {
		return err
	}
	was, err := a.store.ReleaseConfig(app.Name, from)
	if err != nil {
		return err
	}
	now, err := a.store.ReleaseConfig(app.Name, to)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, api.DiffConfig(was, now))
	return nil
}

func (a *Agent) postRollback(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.RollbackRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Version < 0 {
		return invalidf("v%d is not a release version", req.Version)
	}
	var log strings.Builder
	rel, err := a.deploy.rollback(r.Context(), app.Name, req.Version, userOf(r), &log)
	if err != nil {
		return err
	}
	writeJSON(w, 200, rel)
	return nil
}

func (a *Agent) listInstances(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	out, err := a.instancesOf(r.Context(), app.Name)
	if err != nil {
		return err
	}
	writeJSON(w, 200, out)
	return nil
}

// instancesOf is what runs of app, as `pier ps` shows it.
func (a *Agent) instancesOf(ctx context.Context, app string) ([]api.Instance, error) {
	insts, err := a.sched.Instances(ctx, app)
	if err != nil {
		return nil, err
	}
	return presentInstances(insts), nil
}

// presentInstances is insts as the API shows them.
func presentInstances(insts []scheduler.Instance) []api.Instance {
	out := make([]api.Instance, 0, len(insts))
	for _, in := range insts {
		addr := in.Addr
		if in.Type != "web" {
			addr = "" // its PORT is not routed: only web instances get requests
		}
		out = append(out, api.Instance{
			App: in.App, Name: in.Name(), Type: in.Type, Index: in.Index, Slot: in.Slot,
			Release: in.Release, State: in.State, Addr: addr, Node: in.Node, PID: in.PID,
			Restarts: in.Restarts, StartedAt: in.StartedAt,
		})
	}
	return out
}

func (a *Agent) postScale(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.ScaleRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out, err := a.deploy.scale(r.Context(), app.Name, req, userOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.present(out))
	return nil
}

func (a *Agent) postRestart(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	if err := a.deploy.restart(r.Context(), app.Name, userOf(r), io.Discard); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) getConfig(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	vars, err := a.store.Config(app.Name)
	if err != nil {
		return err
	}
	if vars == nil {
		vars = map[string]string{}
	}
	writeJSON(w, 200, vars)
	return nil
}

func (a *Agent) patchConfig(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.ConfigRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	rel, err := a.deploy.updateConfig(r.Context(), app.Name, req.Vars, userOf(r), io.Discard)
	if err != nil {
		return err
	}
	writeJSON(w, 200, rel)
	return nil
}

func (a *Agent) putMaintenance(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.MaintenanceRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if _, err := a.store.UpdateApp(app.Name, func(x *api.App) error {
		x.Maintenance = req.Enabled
		return nil
	}); err != nil {
		return err
	}
	a.refreshRoutes()
	state, typ := "off", api.EventMaintenanceOff
	if req.Enabled {
		state, typ = "on", api.EventMaintenanceOn
	}
	a.events.add(app.Name, typ, userOf(r), "Maintenance mode %s", state)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) purgeCache(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	if err := a.dirs.removeCache(app.Name); err != nil {
		return err
	}
	a.events.add(app.Name, api.EventBuildCachePurged, userOf(r), "Build cache purged")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) listTokens(w http.ResponseWriter, r *http.Request) error {
	ts, err := a.store.Tokens()
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []api.Token{}
	}
	writeJSON(w, 200, ts)
	return nil
}

func (a *Agent) createToken(w http.ResponseWriter, r *http.Request) error {
	var req api.TokenRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || len(req.Name) > 64 {
		return invalidf("a token needs a name of 1 to 64 characters: pier tokens create NAME --role ROLE")
	}
	if req.ExpiresIn < 0 {
		return invalidf("a token must expire in the future")
	}
	var expires time.Time
	if req.ExpiresIn > 0 {
		expires = time.Now().Add(time.Duration(req.ExpiresIn))
	}
	t, err := a.store.CreateToken(req.Name, req.Grant, expires)
	if err != nil {
		return err
	}
	auditNote(r, "", t.ID+" "+t.Name)
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (a *Agent) revokeToken(w http.ResponseWriter, r *http.Request) error {
	if err := a.store.RevokeToken(r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) listKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := a.store.Keys()
	if err != nil {
		return err
	}
	if ks == nil {
		ks = []api.Key{}
	}
	writeJSON(w, 200, ks)
	return nil
}

func (a *Agent) addKey(w http.ResponseWriter, r *http.Request) error {
	var req api.KeyRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	k, err := a.store.AddKey(req.Name, req.PublicKey, req.Grant)
	if err != nil {
		if statusOf(err) == 500 {
			return invalidf("%v", err)
		}
		return err
	}
	auditNote(r, "", k.Fingerprint+" "+k.Name)
	writeJSON(w, http.StatusCreated, k)
	return nil
}

func (a *Agent) removeKey(w http.ResponseWriter, r *http.Request) error {
	if err := a.store.RemoveKey(r.PathValue("fp")); err != nil {
		return err
	}
	a.closeSSHKey(r.PathValue("fp"))
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func atoiDefault(s string, def int) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return def
	}
	return n
}
