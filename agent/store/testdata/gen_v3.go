//go:build ignore

// gen_v3 writes v3.db, a database of schema v3: two apps, "shop-staging"
// and "shop", with no pipelines, which v4 adds. The key check is left out:
// the store writes it on first open with any key. The migration test opens
// a copy of it. Regenerate from agent/store with:
//
//	go run testdata/gen_v3.go testdata/v3.db
package main

import (
	"log"
	"os"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run testdata/gen_v3.go OUT.db")
	}
	os.Remove(os.Args[1])
	db, err := bolt.Open(os.Args[1], 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "apps", "releases", "release_config", "config", "domains", "tokens", "token_hashes", "bootstrap", "keys", "events", "audit"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("3")); err != nil {
			return err
		}
		for _, app := range []string{"shop-staging", "shop"} {
			rec := `{"name":"` + app + `","created_at":"2025-06-07T08:09:10Z"}`
			if err := tx.Bucket([]byte("apps")).Put([]byte(app), []byte(rec)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		log.Fatal(err)
	}
}
