package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// copyTestdata copies a database from testdata/ into a temp dir.
func copyTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pier.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// fileVersion reads meta/version of a closed database file.
func fileVersion(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := "none"
	db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			v = string(m.Get(metaVersion))
		}
		return nil
	})
	return v
}

func TestMigrateFromV0(t *testing.T) {
	path := copyTestdata(t, "v0.db")
	key := testKey(t)
	s := openAt(t, path, key)

	// The old file was kept before the upgrade.
	bak := path + ".v0.bak"
	if got := fileVersion(t, bak); got != "none" {
		t.Errorf("backup %s has version %s, want the untouched v0 file", bak, got)
	}

	apps, err := s.ListApps()
	if err != nil || len(apps) != 2 {
		t.Fatalf("ListApps = %+v, %v", apps, err)
	}
	blog := apps[0]
	if blog.Name != "blog" || blog.LiveRelease != 2 || blog.Formation["web"] != 2 {
		t.Errorf("blog = %+v", blog)
	}
	// Domains that lived only in the app record are now indexed.
	if owner, err := s.DomainApp("www.example.com"); err != nil || owner != "blog" {
		t.Errorf("DomainApp(www.example.com) = %q, %v; want blog", owner, err)
	}
	if _, err := s.AddDomain("shop", "blog.example.com"); !errors.Is(err, ErrDomainTaken) {
		t.Errorf("an old domain could be taken by another app: %v", err)
	}
	ds, _ := s.Domains("blog")
	if len(ds) != 2 {
		t.Errorf("Domains(blog) = %+v", ds)
	}
	// Old releases read, and numbering continues after them.
	rels, err := s.ListReleases("blog")
	if err != nil || len(rels) != 2 || rels[0].Description != "Deploy 5d6e7f8" {
		t.Errorf("ListReleases = %+v, %v", rels, err)
	}
	if cfg, err := s.ReleaseConfig("blog", 1); err != nil || len(cfg) != 0 {
		t.Errorf("ReleaseConfig of an old release = %v, %v; want empty", cfg, err)
	}
	r, err := s.CreateRelease(api.Release{App: "blog"}, map[string]string{"K": "v"})
	if err != nil || r.Version != 3 {
		t.Errorf("new release = v%d, %v; want v3", r.Version, err)
	}
	// Every bucket of the current schema is usable.
	if _, err := s.CreateToken("ci", adminGrant, time.Time{}); err != nil {
		t.Errorf("CreateToken: %v", err)
	}
	s.Close()
	if got := fileVersion(t, path); got != strconv.Itoa(SchemaVersion) {
		t.Errorf("migrated file version = %s, want %d", got, SchemaVersion)
	}

	// Opening again neither migrates nor backs up again.
	if err := os.Remove(bak); err != nil {
		t.Fatal(err)
	}
	openAt(t, path, key)
	if _, err := os.Stat(bak); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a current file was backed up again: %v", err)
	}
}

func TestMigrateFromV1(t *testing.T) {
	path := copyTestdata(t, "v1.db")
	const secret = "v1-admin-token-secret"
	s := openAt(t, path, testKey(t))
	if got := fileVersion(t, path+".v1.bak"); got != "1" {
		t.Errorf("backup has version %s, want the untouched v1 file", got)
	}
	if apps, err := s.ListApps(); err != nil || len(apps) != 1 || apps[0].Name != "shop" {
		t.Errorf("ListApps = %+v, %v", apps, err)
	}
	// The admin token of v1 still works, and the next start marks it as
	// the bootstrap secret it was: revoked, it is not taken again.
	tok, err := s.ImportBootstrapToken("admin", secret)
	if err != nil || tok.ID != "0a1b2c3d" {
		t.Fatalf("ImportBootstrapToken of the v1 admin token = %+v, %v; want the token it had", tok, err)
	}
	if err := s.RevokeToken(tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ImportBootstrapToken("admin", secret); !errors.Is(err, ErrTokenRevoked) {
		t.Errorf("the revoked v1 admin token is taken again: %v", err)
	}
	s.Close()
	if got := fileVersion(t, path); got != strconv.Itoa(SchemaVersion) {
		t.Errorf("migrated file version = %s, want %d", got, SchemaVersion)
	}
}

func TestMigrationFailureLeavesFileUnchanged(t *testing.T) {
	path := copyTestdata(t, "v0.db")
	// shop also claims one of blog's hosts: the migration cannot index it.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).Put([]byte("shop"), []byte(`{"name":"shop","domains":["www.example.com"]}`))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	_, err = Open(path, testKey(t))
	if err == nil {
		t.Fatal("Open migrated a file with a host claimed twice")
	}
	for _, want := range []string{"www.example.com", "blog", "shop", ".v0.bak"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if got := fileVersion(t, path); got != "none" {
		t.Errorf("failed migration left version %s", got)
	}
	after, _ := os.ReadFile(path)
	if !reflect.DeepEqual(apps(t, before), apps(t, after)) {
		t.Error("failed migration changed the apps")
	}
}

// apps reads the apps bucket of a database image.
func apps(t *testing.T, image []byte) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "image.db")
	if err := os.WriteFile(path, image, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]string{}
	db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(k, v []byte) error {
			out[string(k)] = string(v)
			return nil
		})
	})
	return out
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	s := openAt(t, path, testKey(t))
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(metaVersion, []byte(strconv.Itoa(SchemaVersion+1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	_, err = Open(path, testKey(t))
	want := fmt.Sprintf("schema v%d, newer than this pier knows (v%d): upgrade pier", SchemaVersion+1, SchemaVersion)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Open of a newer file = %v, want a refusal telling to upgrade", err)
	}
	if got := fileVersion(t, path); got != strconv.Itoa(SchemaVersion+1) {
		t.Errorf("refused file now has version %s", got)
	}
	matches, _ := filepath.Glob(path + ".v*.bak")
	if len(matches) != 0 {
		t.Errorf("a refused file was backed up: %v", matches)
	}
}
