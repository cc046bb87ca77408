package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/static"
	"github.com/pierhq/pier/procfile"
)

// keepReleases is how many of each app's newest releases keep their slugs.
const keepReleases = 10

// slugGrace spares new slugs from pruning: a build writes its slug some
// time before the release that uses it is stored.
const slugGrace = time.Hour

func (d dirs) slugPath(id string) string {
	return filepath.Join(d.slugs, id+".tar.gz")
}

// liveSlug is the slug path of app's live release, or "".
func liveSlug(st *store.Store, d dirs, app api.App) string {
	if app.LiveRelease == 0 {
		return ""
	}
	r, err := st.GetRelease(app.Name, app.LiveRelease)
	if err != nil || r.SlugID == "" {
		return ""
	}
	return d.slugPath(r.SlugID)
}

var appJSONCache sync.Map // slug path -> *procfile.AppJSON

// writeAppJSON keeps a slug's app.json beside it, so that rollbacks and
// restarts know its health checks without opening the slug.
func writeAppJSON(slugPath string, aj *procfile.AppJSON) error {
	if aj == nil {
		return nil
	}
	b, err := json.Marshal(aj)
	if err != nil {
		return err
	}
	return writeFileAtomic(strings.TrimSuffix(slugPath, ".tar.gz")+".app.json", b, 0o600)
}

// readAppJSON returns the app.json kept beside a slug, or nil.
func readAppJSON(slugPath string) *procfile.AppJSON {
	if slugPath == "" {
		return nil
	}
	if v, ok := appJSONCache.Load(slugPath); ok {
		return v.(*procfile.AppJSON)
	}
	b, err := os.ReadFile(strings.TrimSuffix(slugPath, ".tar.gz") + ".app.json")
	if err != nil {
		return nil
	}
	aj, err := procfile.ParseAppJSON(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	appJSONCache.Store(slugPath, aj)
	return aj
}

// pruneSlugs deletes slugs no release among each app's newest keepReleases
// (and no live or standby release) uses, once they are older than slugGrace.
func (dp *deployer) pruneSlugs() {
	apps, err := dp.store.ListApps()
	if err != nil {
		return
	}
	keep := map[string]bool{}
	for _, app := range apps {
		rels, err := dp.store.ListReleases(app.Name)
		if err != nil {
			return // never prune on a partial view
		}
		for i, r := range rels {
			if i < keepReleases || r.Version == app.LiveRelease || r.Version == app.StandbyRelease {
				keep[r.SlugID] = true
			}
		}
	}
	ents, err := os.ReadDir(dp.dirs.slugs)
	if err != nil {
		return
	}
	for _, e := range ents {
		id, _, _ := strings.Cut(e.Name(), ".")
		if keep[id] || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < slugGrace {
			continue
		}
		_ = os.Remove(filepath.Join(dp.dirs.slugs, e.Name()))
		appJSONCache.Delete(dp.dirs.slugPath(id))
	}
}

// removeCache deletes the build cache of app.
func (d dirs) removeCache(app string) error {
	if !appNameRE().MatchString(app) {
		return nil
	}
	return os.RemoveAll(filepath.Join(d.cache, app))
}

// ServeBuildpack serves the built-in buildpack name over go-plugin; it is
// what `pier buildpack serve NAME` runs.
func ServeBuildpack(name string) error {
	return buildpacks.Serve(name)
}

// indentWriter indents command output by 7 spaces, Heroku style.
type indentWriter struct {
	w   io.Writer
	buf []byte
}

func newIndentWriter(w io.Writer) *indentWriter { return &indentWriter{w: w} }

func (iw *indentWriter) Write(p []byte) (int, error) {
	iw.buf = append(iw.buf, p...)
	for {
		i := bytes.IndexByte(iw.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := io.WriteString(iw.w, "       "+string(iw.buf[:i+1])); err != nil {
			return len(p), err
		}
		iw.buf = iw.buf[i+1:]
	}
	return len(p), nil
}

// Flush writes a last line without a newline.
func (iw *indentWriter) Flush() {
	if len(iw.buf) > 0 {
		_, _ = io.WriteString(iw.w, "       "+string(iw.buf)+"\n")
		iw.buf = nil
	}
}

// StaticServe is what `pier static-serve DIR` runs: the file server of a
// static site's web process.
func StaticServe(ctx context.Context, args []string) error {
	return static.Command(ctx, args)
}
