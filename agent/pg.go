package agent

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/pierhq/pier/addons"
	"github.com/pierhq/pier/api"
)

// `pier pg` and `pier redis`: sessions with an app's database through the
// agent, and its size and connections. Backups are in pg_backups.go.

// attachedOf picks the app's add-on of type typ: the one ?addon= names,
// else the one attached as the type's default var, else the only one.
func (a *Agent) attachedOf(r *http.Request, app, typ string) (api.Addon, error) {
	if name := r.URL.Query().Get("addon"); name != "" {
		rec, err := a.addonOf(app, name)
		if err == nil && rec.Type != typ {
			return api.Addon{}, invalidf("%s is a %s add-on, not %s", name, rec.Type, typ)
		}
		return rec, err
	}
	all, err := a.store.AppAddons(app)
	if err != nil {
		return api.Addon{}, err
	}
	var ofType []api.Addon
	for _, rec := range all {
		if rec.Type != typ {
			continue
		}
		if at, _ := rec.AttachmentOf(app); at.Var == defaultVar(typ) {
			return rec, nil
		}
		ofType = append(ofType, rec)
	}
	switch len(ofType) {
	case 0:
		return api.Addon{}, notFoundf("%s has no %s add-on: pier addons create %s -a %s", app, typ, typ, app)
	case 1:
		return ofType[0], nil
	}
	return api.Addon{}, invalidf("%s has several %s add-ons: name one with --addon", app, typ)
}

// pathAddon is the app of the path and its add-on of type typ.
func (a *Agent) pathAddon(r *http.Request, typ string) (api.App, api.Addon, error) {
	app, err := a.appOf(r)
	if err != nil {
		return app, api.Addon{}, err
	}
	rec, err := a.attachedOf(r, app.Name, typ)
	return app, rec, err
}

// session runs a client program (psql, redis-cli) on the add-on and
// streams it both ways: the request's body is its input as it comes (full
// duplex), its output streams back, ending with the exit trailer.
func (a *Agent) session(w http.ResponseWriter, r *http.Request, typ, program string, args func(addons.Server) []string) error {
	app, rec, err := a.pathAddon(r, typ)
	if err != nil {
		return err
	}
	srv, pw, err := a.addons.server(rec)
	if err != nil {
		return err
	}
	_ = http.NewResponseController(w).EnableFullDuplex()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	out := newStreamWriter(w)
	a.events.add(app.Name, api.EventAddonSession, userOf(r), "Started a %s session on %s", program, rec.Name)
	ctx, cancel := context.WithTimeout(r.Context(), runTimeout)
	defer cancel()
	code, err := a.addons.mgr.Client(ctx, srv, addons.ConnOf(srv, pw), program, args(srv), r.Body, out)
	if err != nil {
		fmt.Fprintf(out, "pier: %v\n", err)
		code = 1
	}
	fmt.Fprintf(out, "%s%d\n", api.RunExitPrefix, code)
	return nil
}

func (a *Agent) postPsql(w http.ResponseWriter, r *http.Request) error {
	return a.session(w, r, api.AddonPostgres, "psql", func(addons.Server) []string {
		args := []string{"-X"}
		if c := r.URL.Query().Get("command"); c != "" {
			args = append(args, "-v", "ON_ERROR_STOP=1", "-c", c)
		}
		return args
	})
}

func (a *Agent) postRedisCLI(w http.ResponseWriter, r *http.Request) error {
	return a.session(w, r, api.AddonRedis, "redis-cli", func(s addons.Server) []string {
		return append(addons.RedisArgs(s), r.URL.Query()["arg"]...)
	})
}

func (a *Agent) getPgInfo(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	all, err := a.store.AppAddons(app.Name)
	if err != nil {
		return err
	}
	out := []api.PgInfo{}
	for _, rec := range all {
		if rec.Type == api.AddonPostgres {
			out = append(out, a.pgInfo(r.Context(), rec))
		}
	}
	if len(out) == 0 {
		return notFoundf("%s has no postgres add-on: pier addons create postgres -a %s", app.Name, app.Name)
	}
	writeJSON(w, 200, out)
	return nil
}

// pgInfo asks the server of rec for its version, size and connections; a
// server that does not answer says so in State.
func (a *Agent) pgInfo(ctx context.Context, rec api.Addon) api.PgInfo {
	info := api.PgInfo{Addon: rec.Name, State: a.addons.present(rec).State}
	srv, pw, err := a.addons.server(rec)
	if err != nil {
		info.State = err.Error()
		return info
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rows, err := a.addons.mgr.Query(ctx, srv, addons.ConnOf(srv, pw), `SELECT current_setting('server_version'),
 pg_database_size(current_database()),
 (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()),
 current_setting('max_connections'),
 (SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema'))`)
	if err != nil || len(rows) != 1 || len(rows[0]) != 5 {
		info.State = fmt.Sprintf("not answering: %v", err)
		return info
	}
	f := rows[0]
	info.Version = "PostgreSQL " + f[0]
	info.SizeBytes, _ = strconv.ParseInt(f[1], 10, 64)
	info.Connections, _ = strconv.Atoi(f[2])
	info.MaxConnections, _ = strconv.Atoi(f[3])
	info.Tables, _ = strconv.Atoi(f[4])
	return info
}
