//go:build ignore

// gen_v1 writes v1.db, a database of schema v1: every bucket of v1 and an
// admin token imported from admin.token, whose secret is
// "v1-admin-token-secret", but no bootstrap bucket, which v2 adds. The key
// check is left out: the store writes it on first open with any key. The
// migration test opens a copy of it. Regenerate from agent/store with:
//
//	go run testdata/gen_v1.go testdata/v1.db
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"log"
	"os"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run testdata/gen_v1.go OUT.db")
	}
	os.Remove(os.Args[1])
	db, err := bolt.Open(os.Args[1], 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "apps", "releases", "release_config", "config", "domains", "tokens", "token_hashes", "keys", "events"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := tx.Bucket([]byte("meta")).Put([]byte("version"), []byte("1")); err != nil {
			return err
		}
		if err := tx.Bucket([]byte("apps")).Put([]byte("shop"), []byte(`{"name":"shop","created_at":"2025-02-03T04:05:06Z"}`)); err != nil {
			return err
		}
		sum := sha256.Sum256([]byte("v1-admin-token-secret"))
		rec := `{"id":"0a1b2c3d","name":"admin","sha256":"` + hex.EncodeToString(sum[:]) + `","created_at":"2025-02-03T04:05:06Z"}`
		if err := tx.Bucket([]byte("tokens")).Put([]byte("0a1b2c3d"), []byte(rec)); err != nil {
			return err
		}
		return tx.Bucket([]byte("token_hashes")).Put(sum[:], []byte("0a1b2c3d"))
	})
	if err != nil {
		log.Fatal(err)
	}
}
