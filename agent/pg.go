package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/addons"
	"github.com/pierhq/pier/api"
)

// `pier pg` and `pier redis`: sessions with an app's database through the
// agent, its size and connections, and its backups (pg_dump's custom
// format, kept under <data-dir>/addon-backups/ADDON).

// maxPgBackups is how many backups of an add-on are kept; a capture past
// it removes the oldest.
const maxPgBackups = 10

var backupIDRE = regexp.MustCompile(`^b[0-9]{3,6}$`)

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

// session runs a client program (psql, redis-cli) on the add-on and
// streams it both ways: the request's body is its input as it comes (full
// duplex), its output streams back, ending with the exit trailer.
func (a *Agent) session(w http.ResponseWriter, r *http.Request, typ, program string, args func(addons.Server) []string) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	rec, err := a.attachedOf(r, app.Name, typ)
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
	a.events.add(app.Name, "addon", userOf(r), "Started a %s session on %s", program, rec.Name)
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
		return append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}, r.URL.Query()["arg"]...)
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

func (d dirs) addonBackups(addon string) string { return filepath.Join(d.addonBackupsRoot, addon) }

// pgBackups lists the backups of an add-on, oldest first.
func (a *Agent) pgBackups(addon string) ([]api.PgBackup, error) {
	ents, err := os.ReadDir(a.dirs.addonBackups(addon))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []api.PgBackup
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".dump")
		if !ok || !backupIDRE.MatchString(id) {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, api.PgBackup{ID: id, Addon: addon, SizeBytes: fi.Size(), CreatedAt: fi.ModTime().UTC()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (a *Agent) listPgBackups(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	rec, err := a.attachedOf(r, app.Name, api.AddonPostgres)
	if err != nil {
		return err
	}
	bs, err := a.pgBackups(rec.Name)
	if err != nil {
		return err
	}
	if bs == nil {
		bs = []api.PgBackup{}
	}
	writeJSON(w, 200, bs)
	return nil
}

// capturePgBackup dumps the database with pg_dump -Fc, a consistent
// snapshot taken while the app keeps writing, into a file that appears
// whole or not at all.
func (a *Agent) capturePgBackup(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	rec, err := a.attachedOf(r, app.Name, api.AddonPostgres)
	if err != nil {
		return err
	}
	srv, pw, err := a.addons.server(rec)
	if err != nil {
		return err
	}
	dir := a.dirs.addonBackups(rec.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	bs, err := a.pgBackups(rec.Name)
	if err != nil {
		return err
	}
	next := 1
	if len(bs) > 0 {
		next, _ = strconv.Atoi(bs[len(bs)-1].ID[1:])
		next++
	}
	id := fmt.Sprintf("b%03d", next)
	f, err := os.CreateTemp(dir, ".capture-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	ctx, cancel := context.WithTimeout(r.Context(), runTimeout)
	defer cancel()
	var errOut strings.Builder
	code, err := a.addons.mgr.Client(ctx, srv, addons.ConnOf(srv, pw), "pg_dump", []string{"-Fc", "--no-owner", "--no-privileges", "-f", f.Name()}, nil, &errOut)
	f.Close()
	if err == nil && code != 0 {
		err = fmt.Errorf("pg_dump exited with status %d: %s", code, strings.TrimSpace(errOut.String()))
	}
	if err != nil {
		return fmt.Errorf("capturing a backup of %s: %w", rec.Name, err)
	}
	if err := syncFile(f.Name()); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, id+".dump")); err != nil {
		return err
	}
	for len(bs)+1 > maxPgBackups {
		os.Remove(filepath.Join(dir, bs[0].ID+".dump"))
		bs = bs[1:]
	}
	fi, _ := os.Stat(filepath.Join(dir, id+".dump"))
	b := api.PgBackup{ID: id, Addon: rec.Name, CreatedAt: time.Now().UTC(), CreatedBy: userOf(r)}
	if fi != nil {
		b.SizeBytes = fi.Size()
	}
	a.events.add(app.Name, "addon", userOf(r), "Captured backup %s of %s (%s)", id, rec.Name, humanBytes(b.SizeBytes))
	writeJSON(w, http.StatusCreated, b)
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// backupFile is the file of backup id of the app's add-on.
func (a *Agent) backupFile(r *http.Request, app string) (api.Addon, string, error) {
	id := r.PathValue("backup")
	rec, err := a.attachedOf(r, app, api.AddonPostgres)
	if err != nil {
		return rec, "", err
	}
	if !backupIDRE.MatchString(id) {
		return rec, "", notFoundf("backup %q not found: see `pier pg backups list -a %s`", id, app)
	}
	p := filepath.Join(a.dirs.addonBackups(rec.Name), id+".dump")
	if _, err := os.Stat(p); err != nil {
		return rec, "", notFoundf("backup %s of %s not found: see `pier pg backups list -a %s`", id, rec.Name, app)
	}
	return rec, p, nil
}

func (a *Agent) downloadPgBackup(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	_, p, err := a.backupFile(r, app.Name)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	_, err = io.Copy(w, f)
	return err
}

// restorePgBackup restores a backup into the app's database with
// pg_restore --clean in one transaction: one that fails (a dump of a newer
// server, a broken file) leaves the database as it was. The backup may be
// another app's (?from=APP), which needs the deploy role there too.
func (a *Agent) restorePgBackup(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	target, err := a.attachedOf(r, app.Name, api.AddonPostgres)
	if err != nil {
		return err
	}
	from := app.Name
	if f := r.URL.Query().Get("from"); f != "" {
		from = f
		if p := principalOf(r); p != nil && !p.may(api.RoleDeploy, from) {
			return notFoundf("app %q not found: see `pier apps list`", from)
		}
		if _, err := a.store.GetApp(from); err != nil {
			return err
		}
	}
	q := r.URL.Query()
	q.Del("addon") // the backup's add-on is the source app's default
	r2 := r.Clone(r.Context())
	r2.URL.RawQuery = q.Encode()
	if from == app.Name {
		r2 = r
	}
	_, p, err := a.backupFile(r2, from)
	if err != nil {
		return err
	}
	srv, pw, err := a.addons.server(target)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), runTimeout)
	defer cancel()
	var out strings.Builder
	code, err := a.addons.mgr.Client(ctx, srv, addons.ConnOf(srv, pw), "pg_restore",
		[]string{"--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "-d", addons.ConnOf(srv, pw).Database, p}, nil, &out)
	if err == nil && code != 0 {
		return invalidf("restoring %s into %s failed, and the database is as it was: %s", r.PathValue("backup"), target.Name, strings.TrimSpace(out.String()))
	}
	if err != nil {
		return err
	}
	a.events.add(app.Name, "addon", userOf(r), "Restored backup %s of %s into %s", r.PathValue("backup"), from, target.Name)
	writeJSON(w, 200, map[string]string{"restored": r.PathValue("backup"), "into": target.Name})
	return nil
}
