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
	"sync"
	"time"

	"github.com/pierhq/pier/addons"
	"github.com/pierhq/pier/api"
)

// `pier pg backups`: dumps of an add-on's database in pg_dump's custom
// format, kept under <data-dir>/addon-backups/ADDON/ (the last
// maxPgBackups), and restores from them.

// maxPgBackups is how many backups of an add-on are kept; a capture past
// it removes the oldest.
const maxPgBackups = 10

var backupIDRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^b[0-9]{3,6}$`) })

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
		if !ok || !backupIDRE().MatchString(id) {
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
	_, rec, err := a.pathAddon(r, api.AddonPostgres)
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

// capturePgBackup dumps the app's database into a new backup.
func (a *Agent) capturePgBackup(w http.ResponseWriter, r *http.Request) error {
	app, rec, err := a.pathAddon(r, api.AddonPostgres)
	if err != nil {
		return err
	}
	b, err := a.capture(r.Context(), rec, userOf(r))
	if err != nil {
		return err
	}
	a.events.add(app.Name, api.EventAddonBackup, userOf(r), "Captured backup %s of %s (%s)", b.ID, rec.Name, humanBytes(b.SizeBytes))
	writeJSON(w, http.StatusCreated, b)
	return nil
}

// capture dumps the add-on's database with pg_dump -Fc, a consistent
// snapshot taken while the app keeps writing, into a file that appears
// whole or not at all, and keeps the last maxPgBackups.
func (a *Agent) capture(ctx context.Context, rec api.Addon, user string) (api.PgBackup, error) {
	srv, pw, err := a.addons.server(rec)
	if err != nil {
		return api.PgBackup{}, err
	}
	dir := a.dirs.addonBackups(rec.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return api.PgBackup{}, err
	}
	bs, err := a.pgBackups(rec.Name)
	if err != nil {
		return api.PgBackup{}, err
	}
	next := 1
	if len(bs) > 0 {
		next, _ = strconv.Atoi(bs[len(bs)-1].ID[1:])
		next++
	}
	id := fmt.Sprintf("b%03d", next)
	f, err := os.CreateTemp(dir, ".capture-*")
	if err != nil {
		return api.PgBackup{}, err
	}
	defer os.Remove(f.Name())
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	var errOut strings.Builder
	code, err := a.addons.mgr.Client(ctx, srv, addons.ConnOf(srv, pw), "pg_dump", []string{"-Fc", "--no-owner", "--no-privileges", "-f", f.Name()}, nil, &errOut)
	f.Close()
	if err == nil && code != 0 {
		err = fmt.Errorf("pg_dump exited with status %d: %s", code, strings.TrimSpace(errOut.String()))
	}
	if err != nil {
		return api.PgBackup{}, fmt.Errorf("capturing a backup of %s: %w", rec.Name, err)
	}
	if err := syncFile(f.Name()); err != nil {
		return api.PgBackup{}, err
	}
	final := filepath.Join(dir, id+".dump")
	if err := os.Rename(f.Name(), final); err != nil {
		return api.PgBackup{}, err
	}
	for len(bs)+1 > maxPgBackups {
		os.Remove(filepath.Join(dir, bs[0].ID+".dump"))
		bs = bs[1:]
	}
	b := api.PgBackup{ID: id, Addon: rec.Name, CreatedAt: time.Now().UTC(), CreatedBy: user}
	if fi, err := os.Stat(final); err == nil {
		b.SizeBytes = fi.Size()
	}
	return b, nil
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
	if !backupIDRE().MatchString(id) {
		return rec, "", notFoundf("backup %q not found: see `pier pg backups list -a %s`", id, app)
	}
	p := filepath.Join(a.dirs.addonBackups(rec.Name), id+".dump")
	if _, err := os.Stat(p); err != nil { // #nosec G703 -- id matched backupIDRE above
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
	f, err := os.Open(p) // #nosec G703 -- a path backupFile checked
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
	app, target, err := a.pathAddon(r, api.AddonPostgres)
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
	if err := a.pgRestore(r.Context(), srv, pw, p, true); err != nil {
		return invalidf("restoring %s into %s failed, and the database is as it was: %v", r.PathValue("backup"), target.Name, err)
	}
	a.events.add(app.Name, api.EventAddonBackup, userOf(r), "Restored backup %s of %s into %s", r.PathValue("backup"), from, target.Name)
	writeJSON(w, 200, map[string]string{"restored": r.PathValue("backup"), "into": target.Name})
	return nil
}

// pgRestore loads the dump at path into srv's database in one transaction,
// dropping the tables it holds first when clean is set: one that fails
// changes nothing.
func (a *Agent) pgRestore(ctx context.Context, srv addons.Server, pw, path string, clean bool) error {
	ctx, cancel := context.WithTimeout(ctx, runTimeout)
	defer cancel()
	conn := addons.ConnOf(srv, pw)
	args := []string{"--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "-d", conn.Database, path}
	if clean {
		args = append([]string{"--clean", "--if-exists"}, args...)
	}
	var out strings.Builder
	code, err := a.addons.mgr.Client(ctx, srv, conn, "pg_restore", args, nil, &out)
	if err == nil && code != 0 {
		msg := strings.TrimSpace(out.String())
		if strings.Contains(msg, "unsupported version") {
			msg += fmt.Sprintf(" (the dump was made by a newer PostgreSQL than this add-on's %s: restore it into an add-on of that version, made with `pier addons create postgres --version N`)", srv.Version)
		}
		err = errors.New(msg)
	}
	return err
}
