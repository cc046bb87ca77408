package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/pierhq/pier/addons"
	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/sandbox"
)

// addonService creates, attaches, detaches and destroys add-ons: their
// servers (package addons), their records in the store, and the config var
// of each app they are attached to, which it changes as `pier config`
// does: a new release, deployed.
type addonService struct {
	store  *store.Store
	mgr    *addons.Manager // nil when add-ons do not run here (the Nomad scheduler)
	remote remoteAddons    // with the Nomad scheduler and --addon-node: runs them there
	why    string          // when neither: why, and what to do instead
	deploy *deployer
	events *eventLog
	iso    isolation
	uids   sandbox.Range // the ids the agent gives apps and add-ons
	logf   func(format string, args ...any)
}

var addonVarRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,58}$`) })

// defaultVar is the config var of a type's first add-on on an app.
func defaultVar(typ string) string {
	if typ == api.AddonRedis {
		return "REDIS_URL"
	}
	return "DATABASE_URL"
}

// chooseVar is the config var an attachment of addon to app gets: AS_URL
// when as is given (taken is an error), else the type's default, else one
// named for the add-on when the default is taken.
func chooseVar(vars map[string]string, typ, addon, as string) (string, error) {
	if as != "" {
		v := strings.ToUpper(strings.TrimSuffix(strings.ToUpper(as), "_URL")) + "_URL"
		if !addonVarRE().MatchString(v) {
			return "", invalidf("--as %q: use letters, digits and _, starting with a letter (the config var is AS_URL)", as)
		}
		if _, taken := vars[v]; taken {
			return "", conflictf("the app already has %s: choose another --as, or unset it first", v)
		}
		return v, nil
	}
	if v := defaultVar(typ); vars[v] == "" {
		return v, nil
	}
	v := strings.ToUpper(strings.ReplaceAll(addon, "-", "_")) + "_URL"
	if _, taken := vars[v]; taken {
		return "", conflictf("the app already has %s and %s: give the attachment a name with --as", defaultVar(typ), v)
	}
	return v, nil
}

func (as *addonService) available() error {
	if as.mgr == nil && as.remote.run == nil {
		return conflictf("add-ons do not run here: %s", as.why)
	}
	return nil
}

// create makes an add-on of app and attaches it: its server first, then
// the config var (a new release). Whatever fails undoes what was done.
func (as *addonService) create(ctx context.Context, app string, req api.AddonCreateRequest, user string, out io.Writer) (api.AddonChange, error) {
	if err := as.available(); err != nil {
		return api.AddonChange{}, err
	}
	if typ, plan, ok := strings.Cut(req.Type, ":"); ok {
		return api.AddonChange{}, invalidf("unknown plan %q: pier's add-ons have no plans, each runs with the limits docs/addons.md lists; create %s, with --version V to choose its version", plan, typ)
	}
	if req.Type != api.AddonPostgres && req.Type != api.AddonRedis {
		return api.AddonChange{}, invalidf("unknown add-on type %q: use postgres or redis", req.Type)
	}
	if _, err := as.store.GetApp(app); err != nil {
		return api.AddonChange{}, err
	}
	if req.Listen != "" && as.mgr == nil {
		return api.AddonChange{}, invalidf("--listen is for add-ons on the agent's host; on Nomad an add-on is reached through the service catalog")
	}
	if req.Listen != "" {
		if err := addons.CheckListen(req.Listen); err != nil {
			return api.AddonChange{}, invalidf("%v", err)
		}
	}
	name, err := as.newName(app, req)
	if err != nil {
		return api.AddonChange{}, err
	}
	vars, err := as.store.Config(app)
	if err != nil {
		return api.AddonChange{}, err
	}
	v, err := chooseVar(vars, req.Type, name, req.As)
	if err != nil {
		return api.AddonChange{}, err
	}
	password := randomHex(32)
	var pick func(map[int]bool) (int, error)
	if as.iso.on {
		pick = func(used map[int]bool) (int, error) { return lowestFreeUID(as.uids, used) }
	}
	rec, err := as.store.CreateAddon(api.Addon{Name: name, Type: req.Type, App: app, CreatedBy: user, Listen: req.Listen, TLS: req.Listen != "",
		Attachments: []api.Attachment{{App: app, Var: v}}}, password, pick)
	if err != nil {
		return api.AddonChange{}, err
	}
	fmt.Fprintf(out, "-----> Creating %s (%s) for %s\n", name, req.Type, app)
	if as.mgr == nil {
		return as.createRemote(ctx, app, rec, req.Version, v, password, user, out)
	}
	srv, err := as.mgr.Create(ctx, addons.Spec{Name: name, Type: req.Type, Version: req.Version,
		User: identityOf(rec.UID), Password: password, Listen: req.Listen})
	if err != nil {
		as.forget(name)
		if strings.Contains(err.Error(), "not installed") || strings.Contains(err.Error(), "not a valid add-on name") {
			return api.AddonChange{}, invalidf("%v", err)
		}
		return api.AddonChange{}, fmt.Errorf("creating %s: %w; nothing was kept", name, err)
	}
	rec, err = as.store.UpdateAddon(name, func(a *api.Addon) error {
		a.Version, a.Port = srv.Version, srv.Port
		return nil
	})
	if err != nil {
		as.destroyServer(name)
		return api.AddonChange{}, err
	}
	url := addons.URL(srv, password)
	rel, err := as.deploy.updateConfig(ctx, app, map[string]*string{v: &url}, user, out)
	if err != nil {
		as.destroyServer(name)
		return api.AddonChange{}, fmt.Errorf("setting %s on %s: %w; %s was removed", v, app, err, name)
	}
	as.events.add(app, api.EventAddonCreated, user, "Created add-on %s (%s %s) as %s", name, req.Type, srv.Version, v)
	return api.AddonChange{Addon: as.present(rec), Releases: releases(rel)}, nil
}

// newName is the add-on's name: req.Name, or APP-TYPE with a number when
// that is taken.
func (as *addonService) newName(app string, req api.AddonCreateRequest) (string, error) {
	if req.Name != "" {
		if err := addons.CheckName(req.Name); err != nil {
			return "", invalidf("%v", err)
		}
		if _, err := as.store.GetAddon(req.Name); err == nil {
			return "", conflictf("an add-on called %s already exists: choose another --name", req.Name)
		}
		return req.Name, nil
	}
	base := app + "-" + req.Type
	for n := 1; n < 100; n++ {
		name := base
		if n > 1 {
			name = fmt.Sprintf("%s-%d", base, n)
		}
		if _, err := as.store.GetAddon(name); errors.Is(err, store.ErrAddonNotFound) {
			return name, nil
		}
	}
	return "", conflictf("%s has too many add-ons of type %s: name one with --name", app, req.Type)
}

// attach gives app the URL of the add-on name in a config var.
func (as *addonService) attach(ctx context.Context, app, name, asName, user string, out io.Writer) (api.AddonChange, error) {
	if err := as.available(); err != nil {
		return api.AddonChange{}, err
	}
	rec, err := as.store.GetAddon(name)
	if err != nil {
		return api.AddonChange{}, err
	}
	if _, err := as.store.GetApp(app); err != nil {
		return api.AddonChange{}, err
	}
	if at, ok := rec.AttachmentOf(app); ok {
		return api.AddonChange{}, conflictf("%s is already attached to %s as %s", name, app, at.Var)
	}
	vars, err := as.store.Config(app)
	if err != nil {
		return api.AddonChange{}, err
	}
	v, err := chooseVar(vars, rec.Type, name, asName)
	if err != nil {
		return api.AddonChange{}, err
	}
	url, err := as.url(ctx, rec)
	if err != nil {
		return api.AddonChange{}, err
	}
	rel, err := as.deploy.updateConfig(ctx, app, map[string]*string{v: &url}, user, out)
	if err != nil {
		return api.AddonChange{}, fmt.Errorf("setting %s on %s: %w", v, app, err)
	}
	rec, err = as.store.UpdateAddon(name, func(a *api.Addon) error {
		a.Attachments = append(a.Attachments, api.Attachment{App: app, Var: v})
		return nil
	})
	if err != nil {
		return api.AddonChange{}, err
	}
	as.events.add(app, api.EventAddonAttached, user, "Attached add-on %s as %s", name, v)
	return api.AddonChange{Addon: as.present(rec), Releases: releases(rel)}, nil
}

// detach takes the add-on's config var off app. The owner cannot detach:
// it destroys.
func (as *addonService) detach(ctx context.Context, app, name, user string, out io.Writer) (api.AddonChange, error) {
	rec, err := as.store.GetAddon(name)
	if err != nil {
		return api.AddonChange{}, err
	}
	at, ok := rec.AttachmentOf(app)
	if !ok {
		return api.AddonChange{}, notFoundf("%s is not attached to %s: see `pier addons list -a %s`", name, app, app)
	}
	if rec.App == app {
		return api.AddonChange{}, conflictf("%s belongs to %s: destroy it instead (pier addons destroy %s --confirm %s)", name, app, name, name)
	}
	rel, err := as.unsetVar(ctx, app, at.Var, user, out)
	if err != nil {
		return api.AddonChange{}, err
	}
	rec, err = as.store.UpdateAddon(name, func(a *api.Addon) error {
		a.Attachments = withoutApp(a.Attachments, app)
		return nil
	})
	if err != nil {
		return api.AddonChange{}, err
	}
	as.events.add(app, api.EventAddonDetached, user, "Detached add-on %s (%s)", name, at.Var)
	return api.AddonChange{Addon: as.present(rec), Releases: releases(rel)}, nil
}

// destroy detaches the add-on from every app (a release each), stops its
// server and removes its data and backups.
func (as *addonService) destroy(ctx context.Context, app, name, confirm, user string, out io.Writer) (api.AddonChange, error) {
	rec, err := as.store.GetAddon(name)
	if err != nil {
		return api.AddonChange{}, err
	}
	if rec.App != app {
		return api.AddonChange{}, notFoundf("%s is not an add-on of %s: see `pier addons list -a %s`", name, app, app)
	}
	if confirm != name {
		return api.AddonChange{}, invalidf("destroying %s deletes its data and backups for good: confirm with --confirm %s", name, name)
	}
	var rels []api.Release
	for _, at := range rec.Attachments {
		rel, err := as.unsetVar(ctx, at.App, at.Var, user, out)
		if err != nil && !errors.Is(err, store.ErrAppNotFound) {
			return api.AddonChange{}, fmt.Errorf("unsetting %s on %s: %w; %s is kept", at.Var, at.App, err, name)
		}
		rels = append(rels, releases(rel)...)
		rec, err = as.store.UpdateAddon(name, func(a *api.Addon) error {
			a.Attachments = withoutApp(a.Attachments, at.App)
			return nil
		})
		if err != nil {
			return api.AddonChange{}, err
		}
	}
	if err := as.destroyServer(name); err != nil {
		return api.AddonChange{}, err
	}
	as.events.add(app, api.EventAddonDestroyed, user, "Destroyed add-on %s", name)
	return api.AddonChange{Addon: rec, Releases: rels}, nil
}

// appDestroyed deals with the add-ons of an app being destroyed: those it
// owns are destroyed (detached from the other apps first), the others
// forget it.
func (as *addonService) appDestroyed(ctx context.Context, app string) error {
	all, err := as.store.AppAddons(app)
	if err != nil {
		return err
	}
	for _, rec := range all {
		if rec.App != app {
			if _, err := as.store.UpdateAddon(rec.Name, func(a *api.Addon) error {
				a.Attachments = withoutApp(a.Attachments, app)
				return nil
			}); err != nil {
				return err
			}
			continue
		}
		for _, at := range rec.Attachments {
			if at.App != app {
				if _, err := as.unsetVar(ctx, at.App, at.Var, "pier", io.Discard); err != nil {
					as.logf("unsetting %s on %s: %v", at.Var, at.App, err)
				}
			}
		}
		if err := as.destroyServer(rec.Name); err != nil {
			return err
		}
	}
	return nil
}

func (as *addonService) unsetVar(ctx context.Context, app, v, user string, out io.Writer) (api.Release, error) {
	return as.deploy.updateConfig(ctx, app, map[string]*string{v: nil}, user, out)
}

// destroyServer stops the add-on's server, removes its files and its
// record.
func (as *addonService) destroyServer(name string) error {
	if as.mgr != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := as.mgr.Destroy(ctx, name); err != nil && !errors.Is(err, addons.ErrNotFound) {
			return fmt.Errorf("stopping the server of %s: %w", name, err)
		}
	}
	if as.remote.run != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if err := as.remote.run.StopAddon(ctx, name); err != nil {
			return fmt.Errorf("stopping the job of %s on Nomad: %w", name, err)
		}
	}
	if err := os.RemoveAll(as.deploy.dirs.addonBackups(name)); err != nil {
		return fmt.Errorf("removing the backups of %s: %w", name, err)
	}
	return as.forget(name)
}

func (as *addonService) forget(name string) error {
	if err := as.store.DeleteAddon(name); err != nil && !errors.Is(err, store.ErrAddonNotFound) {
		return err
	}
	return nil
}

// url is the URL an app gets of the add-on.
func (as *addonService) url(ctx context.Context, rec api.Addon) (string, error) {
	if as.mgr == nil && as.remote.run != nil {
		return as.remoteURL(ctx, rec)
	}
	srv, pw, err := as.server(rec)
	if err != nil {
		return "", err
	}
	return addons.URL(srv, pw), nil
}

// server is the add-on's running server and its password.
func (as *addonService) server(rec api.Addon) (addons.Server, string, error) {
	if err := as.available(); err != nil {
		return addons.Server{}, "", err
	}
	if as.mgr == nil {
		return addons.Server{}, "", conflictf("%s runs on Nomad, where pier does not reach its server: use psql or redis-cli with its URL (pier config get -a %s %s) from a host that reaches it", rec.Name, rec.App, defaultVar(rec.Type))
	}
	srv, err := as.mgr.Get(rec.Name)
	if err != nil {
		return addons.Server{}, "", fmt.Errorf("the server of %s is not known to this agent: %w", rec.Name, err)
	}
	pw, err := as.store.AddonPassword(rec.Name)
	return srv, pw, err
}

// present adds what the server's supervisor knows to the record.
func (as *addonService) present(rec api.Addon) api.Addon {
	if as.mgr == nil && as.remote.run != nil {
		rec.State = "on Nomad node " + as.remote.node
		return rec
	}
	if as.mgr == nil {
		rec.State = "not running here"
		return rec
	}
	if srv, err := as.mgr.Get(rec.Name); err == nil {
		rec.State, rec.Restarts, rec.Port = srv.State, srv.Restarts, srv.Port
		rec.TLS, rec.CACert = srv.TLS, srv.CACert()
	} else {
		rec.State = "missing"
	}
	return rec
}

func withoutApp(ats []api.Attachment, app string) []api.Attachment {
	var out []api.Attachment
	for _, at := range ats {
		if at.App != app {
			out = append(out, at)
		}
	}
	return out
}

// releases is the release a config change made, if it made one (an app
// that never deployed gets none).
func releases(rel api.Release) []api.Release {
	if rel.Version == 0 {
		return nil
	}
	return []api.Release{rel}
}

// openAddons starts the supervisor of the add-on servers, which re-adopts
// those running. Add-ons run on the agent's host with the local scheduler
// only: on Nomad, apps on other hosts could not reach 127.0.0.1.
func (a *Agent) openAddons() error {
	a.addons = &addonService{store: a.store, deploy: a.deploy, events: a.events, iso: a.iso, uids: a.cfg.UIDs, logf: a.logf}
	if a.cfg.Scheduler != "local" {
		run := addonRunnerOf(a.sched)
		if run == nil || a.cfg.AddonNode == "" {
			a.addons.why = "with the Nomad scheduler pier runs add-ons only on the node --addon-node names (docs/addons.md); or point DATABASE_URL at a managed database (pier config set DATABASE_URL=...)"
			return nil
		}
		a.addons.remote = remoteAddons{run: run, node: a.cfg.AddonNode}
		return nil
	}
	mgr, err := addons.New(addons.Options{
		Dir:  a.dirs.addons,
		Bins: addons.FindBinaries(a.cfg.PostgresBin, a.cfg.RedisServer),
		Logf: a.logf,
		OnEvent: func(name, msg string) {
			if rec, err := a.store.GetAddon(name); err == nil {
				a.events.add(rec.App, api.EventAddonServer, "", "%s: %s", name, msg)
				return
			}
			a.logf("add-on %s: %s", name, msg)
		},
	})
	if err != nil {
		return fmt.Errorf("starting the add-on servers: %w", err)
	}
	a.addons.mgr = mgr
	return nil
}
