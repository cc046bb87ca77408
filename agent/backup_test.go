package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/agent/gitserver"
	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// backupAgent is an agent's store, dirs and git server in a temp dir, with
// an app, a pushed-to repository and a release with a slug.
func backupAgent(t *testing.T) (*Agent, []byte) {
	t.Helper()
	key := bytes.Repeat([]byte{7}, 32)
	d := newDirs(t.TempDir())
	for _, dir := range []string{d.slugs, d.tmp, d.repos, d.cache} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(filepath.Join(d.root, "pier.db"), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := &Agent{cfg: Config{Version: "test"}, dirs: d, store: st, git: &gitserver.Server{Root: d.repos}, key: key, log: slog.New(slog.DiscardHandler)}
	if err := st.CreateApp(api.App{Name: "shop"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateRelease(api.Release{App: "shop", SlugID: "abc", Description: "Deploy"}, map[string]string{"DB": "secret"}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(d.slugPath("abc"), []byte("slug"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d.cache, "big"), []byte("cache"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.git.EnsureRepo("shop"); err != nil {
		t.Skipf("git: %v", err)
	}
	return a, key
}

func writeTestBackup(t *testing.T, a *Agent) string {
	t.Helper()
	return writeTestArchive(t, a, api.BackupRequest{})
}

// writeTestArchive writes a backup of a as req asks into a file.
func writeTestArchive(t *testing.T, a *Agent, req api.BackupRequest) string {
	t.Helper()
	snap, err := a.snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := a.writeArchive(t.Context(), snap, req, &buf); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "b.tar.gz")
	if err := os.WriteFile(file, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestBackupVerifiesAndRestores(t *testing.T) {
	a, key := backupAgent(t)
	file := writeTestBackup(t, a)
	m, err := VerifyBackup(file, "")
	if err != nil {
		t.Fatal(err)
	}
	if m.SchemaVersion != store.SchemaVersion || m.Slugs != 1 || len(m.Apps) != 1 {
		t.Fatalf("manifest %+v", m)
	}
	for _, f := range m.Files {
		if strings.HasPrefix(f.Path, "cache/") || f.Path == "secret.key" {
			t.Fatalf("%s is in the backup", f.Path)
		}
	}

	// A data dir in use by an agent is refused, even with --force.
	if _, err := RestoreBackup(file, a.dirs.root, RestoreOptions{Force: true}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("restore into a dir in use: %v", err)
	}
	// A data dir that is not empty is refused without --force.
	busy := t.TempDir()
	os.WriteFile(filepath.Join(busy, "x"), nil, 0o600)
	if _, err := RestoreBackup(file, busy, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("restore into a dir not empty: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "new")
	if _, err := RestoreBackup(file, dir, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(filepath.Join(dir, "pier.db"), key)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rel, err := st.GetRelease("shop", 1)
	if err != nil || rel.SlugID != "abc" {
		t.Fatalf("release %+v, %v", rel, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "slugs", "abc.tar.gz")); err != nil || string(b) != "slug" {
		t.Fatalf("slug %q, %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "repos", "shop.git", "HEAD")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, manifestName)); err == nil {
		t.Fatal("the manifest was left in the data dir")
	}
}

func TestBackupRefusesDamage(t *testing.T) {
	a, _ := backupAgent(t)
	file := writeTestBackup(t, a)
	good, _ := os.ReadFile(file)
	for name, bad := range map[string][]byte{
		"truncated":   good[:len(good)/2],
		"flipped":     flip(good, len(good)/2),
		"empty":       nil,
		"rewritten":   repack(t, good, "slugs/abc.tar.gz", []byte("evil")),
		"no manifest": repack(t, good, manifestName, nil),
	} {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "b.tar.gz")
			os.WriteFile(f, bad, 0o600)
			if _, err := VerifyBackup(f, ""); err == nil {
				t.Fatal("verify passed")
			}
			dir := filepath.Join(t.TempDir(), "new")
			if _, err := RestoreBackup(f, dir, RestoreOptions{}); err == nil {
				t.Fatal("restore passed")
			}
			if _, err := os.Stat(dir); err == nil {
				t.Fatal("restore wrote the data dir")
			}
			ents, _ := os.ReadDir(filepath.Dir(dir))
			if len(ents) != 0 {
				t.Fatalf("restore left %v", ents)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0xff
	return c
}

// repack rewrites a backup archive with the content of name replaced (or
// the entry dropped when content is nil), as someone changing a backup
// would, gzip and tar intact.
func repack(t *testing.T, archive []byte, name string, content []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if h.Name == name {
			if content == nil {
				continue
			}
			body = content
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	tw.Close()
	zw.Close()
	return out.Bytes()
}

func TestRestoreRefusesANewerSchema(t *testing.T) {
	a, _ := backupAgent(t)
	file := writeTestBackup(t, a)
	m, err := VerifyBackup(file, "")
	if err != nil {
		t.Fatal(err)
	}
	m.SchemaVersion = store.SchemaVersion + 1
	b, _ := json.Marshal(m)
	good, _ := os.ReadFile(file)
	newer := filepath.Join(t.TempDir(), "newer.tar.gz")
	os.WriteFile(newer, repack(t, good, manifestName, b), 0o600)
	dir := filepath.Join(t.TempDir(), "new")
	if _, err := RestoreBackup(newer, dir, RestoreOptions{}); err == nil || !strings.Contains(err.Error(), "newer than this pier knows") {
		t.Fatalf("restore of a newer schema: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Fatal("restore wrote the data dir")
	}
}
