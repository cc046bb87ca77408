package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

func TestAddons(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	s := openAt(t, path, testKey(t))
	mustCreateApp(t, s, "shop", "worker")
	lowest := func(used map[int]bool) (int, error) {
		for uid := 70000; ; uid += 2 {
			if !used[uid] {
				return uid, nil
			}
		}
	}
	a, err := s.CreateAddon(api.Addon{Name: "shop-postgres", Type: api.AddonPostgres, App: "shop",
		Attachments: []api.Attachment{{App: "shop", Var: "DATABASE_URL"}}}, "s3cret-pw", lowest)
	if err != nil {
		t.Fatal(err)
	}
	if a.UID != 70000 {
		t.Errorf("uid %d, want 70000", a.UID)
	}
	// An app asking for a user id after it does not get the add-on's.
	if uid, err := s.AssignUID("shop", lowest); err != nil || uid != 70002 {
		t.Errorf("the app's uid = %d, %v; want 70002 (70000 is the add-on's)", uid, err)
	}
	if _, err := s.CreateAddon(api.Addon{Name: "shop-postgres", Type: api.AddonRedis, App: "worker"}, "x", nil); !errors.Is(err, ErrAddonExists) {
		t.Errorf("a second add-on of the same name: %v, want ErrAddonExists", err)
	}
	if _, err := s.CreateAddon(api.Addon{Name: "other", Type: api.AddonRedis, App: "nope"}, "x", nil); !errors.Is(err, ErrAppNotFound) {
		t.Errorf("an add-on of a missing app: %v, want ErrAppNotFound", err)
	}
	if _, err := s.UpdateAddon("shop-postgres", func(x *api.Addon) error {
		x.Attachments = append(x.Attachments, api.Attachment{App: "worker", Var: "DATABASE_URL"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.AppAddons("worker"); len(got) != 1 || got[0].Name != "shop-postgres" {
		t.Errorf("worker's add-ons: %v", got)
	}
	key := testKey(t)
	if _, err := s.RotateKey(key); err != nil {
		t.Fatal(err)
	}
	if pw, err := s.AddonPassword("shop-postgres"); err != nil || pw != "s3cret-pw" {
		t.Errorf("the password after a key rotation: %q, %v", pw, err)
	}
	if bytes.Contains(rawFile(t, s), []byte("s3cret-pw")) {
		t.Error("the password is in the file in plain text")
	}
	s = openAt(t, path, key)
	if err := s.DeleteAddon("shop-postgres"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAddon("shop-postgres"); !errors.Is(err, ErrAddonNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if _, err := s.AddonPassword("shop-postgres"); !errors.Is(err, ErrAddonNotFound) {
		t.Errorf("the password after delete: %v", err)
	}
}

// TestMigrateFromV3AddsAddons: a v3 file (no add-on buckets) opens as v4 with its
// apps kept and add-ons usable; a copy of the v3 file is left beside it.
func TestMigrateFromV3AddsAddons(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pier.db")
	key := testKey(t)
	s := openAt(t, path, key)
	mustCreateApp(t, s, "shop")
	err := s.db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAddons, bucketAddonSecrets} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(metaVersion, []byte("3"))
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path, key)
	if _, err := s.GetApp("shop"); err != nil {
		t.Fatalf("the app after the migration: %v", err)
	}
	if _, err := s.CreateAddon(api.Addon{Name: "shop-postgres", Type: api.AddonPostgres, App: "shop"}, "pw", nil); err != nil {
		t.Fatalf("an add-on after the migration: %v", err)
	}
	s.Close()
	if got := fileVersion(t, path); got != "4" {
		t.Errorf("migrated file version = %s, want 4", got)
	}
	if _, err := os.Stat(path + ".v3.bak"); err != nil {
		t.Errorf("no copy of the v3 file: %v", err)
	}
}
