package main

import (
	"archive/tar"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBackupWithAnAddonDown: an add-on pier cannot back up now does not
// fail pier's backup, which holds every app's state: the add-on's last
// snapshot goes in instead, or, with none, the backup says it is left out;
// `pier backup create` and the app's events name it.
func TestBackupWithAnAddonDown(t *testing.T) {
	needE2E(t)
	requireAddonServers(t)
	a := startAgent(t, agentOpts{})
	const app = "ledger"
	a.mustPier("apps", "create", app)
	a.mustPier("addons", "create", "redis", "-a", app, "--as", "CACHE")
	a.mustPier("addons", "create", "redis", "-a", app, "--as", "QUEUE")
	cache, queue := addonNamed(t, a, app, "CACHE_URL"), addonNamed(t, a, app, "QUEUE_URL")
	redis := func(addon string, args ...string) string {
		return a.mustPier(append([]string{"redis", "cli", "-a", app, "--addon", addon, "--"}, args...)...)
	}
	// The queue's password changes under pier before any backup: pier
	// cannot take its snapshot, and has none from before.
	redis(queue, "CONFIG", "SET", "requirepass", "changed-behind-pier")
	redis(cache, "SET", "greeting", "from-the-first-backup")
	dir := t.TempDir()
	r := a.pier("backup", "create", "--to", dir)
	if r.code != 0 || !strings.Contains(r.stderr, "Warning: add-on "+queue+" is not in this backup") {
		t.Fatalf("first backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "Warning: add-on "+cache+":") || strings.Contains(r.stderr, "Warning: add-on "+cache+" ") {
		t.Errorf("first backup warns about %s, which was up:\n%s", cache, r.stderr)
	}
	first := onlyBackup(t, dir)
	if got := tarEntries(t, first); !got["addon-backups/"+cache+"/redis.rdb"] || got["addon-backups/"+queue+"/redis.rdb"] {
		t.Errorf("first backup's add-on files: %v", got)
	}

	// Now the cache goes the same way: its snapshot of the first backup
	// goes in again.
	redis(cache, "SET", "greeting", "after-the-first-backup")
	redis(cache, "CONFIG", "SET", "requirepass", "changed-behind-pier")
	os.Remove(first)
	r = a.pier("backup", "create", "--to", dir)
	if r.code != 0 || !strings.Contains(r.stderr, "Warning: add-on "+cache+": no snapshot could be taken") || !strings.Contains(r.stderr, "went in instead") {
		t.Fatalf("second backup: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "changed-behind-pier") {
		t.Errorf("the warning shows a password:\n%s", r.stderr)
	}
	if got := tarEntries(t, onlyBackup(t, dir)); !got["addon-backups/"+cache+"/redis.rdb"] || !got["pier.db"] {
		t.Errorf("second backup's files: %v", got)
	}
	if out := a.mustPier("events", "-a", app); !strings.Contains(out, cache+": no snapshot could be taken") {
		t.Errorf("pier events -a %s names no add-on left behind:\n%s", app, out)
	}
}

// addonNamed is the name of the add-on of app attached as variable v.
func addonNamed(t *testing.T, a *agentProc, app, v string) string {
	t.Helper()
	out := a.mustPier("addons", "list", "-a", app)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, v) {
			return strings.Fields(line)[0]
		}
	}
	t.Fatalf("no add-on attached as %s:\n%s", v, out)
	return ""
}

func onlyBackup(t *testing.T, dir string) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "pier-backup-*.tar.gz"))
	if len(files) != 1 {
		t.Fatalf("backups in %s: %v", dir, files)
	}
	return files[0]
}

// tarEntries are the names in a backup archive.
func tarEntries(t *testing.T, file string) map[string]bool {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	names := map[string]bool{}
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		names[h.Name] = true
	}
	return names
}
