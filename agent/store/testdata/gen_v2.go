//go:build ignore

// gen_v2 writes v2.db, a database of schema v2: an app, two tokens made
// before tokens had roles (the admin one imported from admin.token, whose
// secret is "v2-admin-token-secret", and one named "ci", whose secret is
// "v2-ci-token-secret") and an SSH key without a role. v3 gives tokens and
// keys roles and adds the audit bucket. The key check is left out: the
// store writes it on first open with any key. The migration test opens a
// copy of it. Regenerate from agent/store with:
//
//	go run testdata/gen_v2.go testdata/v2.db
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
		log.Fatal("usage: go run testdata/gen_v2.go OUT.db")
	}
	os.Remove(os.Args[1])
	db, err := bolt.Open(os.Args[1], 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	put := func(tx *bolt.Tx, bucket, k, v string) error {
		return tx.Bucket([]byte(bucket)).Put([]byte(k), []byte(v))
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{"meta", "apps", "releases", "release_config", "config", "domains", "tokens", "token_hashes", "bootstrap", "keys", "events"} {
			if _, err := tx.CreateBucket([]byte(name)); err != nil {
				return err
			}
		}
		if err := put(tx, "meta", "version", "2"); err != nil {
			return err
		}
		if err := put(tx, "apps", "shop", `{"name":"shop","created_at":"2025-03-04T05:06:07Z"}`); err != nil {
			return err
		}
		for _, t := range []struct{ id, name, secret string }{
			{"0a1b2c3d", "admin", "v2-admin-token-secret"},
			{"4e5f6a7b", "ci", "v2-ci-token-secret"},
		} {
			sum := sha256.Sum256([]byte(t.secret))
			rec := `{"id":"` + t.id + `","name":"` + t.name + `","sha256":"` + hex.EncodeToString(sum[:]) + `","created_at":"2025-03-04T05:06:07Z"}`
			if err := put(tx, "tokens", t.id, rec); err != nil {
				return err
			}
			if err := put(tx, "token_hashes", string(sum[:]), t.id); err != nil {
				return err
			}
		}
		sum := sha256.Sum256([]byte("v2-admin-token-secret"))
		if err := put(tx, "bootstrap", string(sum[:]), `{"token_id":"0a1b2c3d","name":"admin","imported_at":"2025-03-04T05:06:07Z"}`); err != nil {
			return err
		}
		fp := "SHA256:2xHGbVKN8XH8N2rmWdFrqSK8/4k0mLn8XSVZ6RA7bVg"
		return put(tx, "keys", fp, `{"fingerprint":"`+fp+`","name":"laptop","public_key":"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOv4nC8h5XgS0X4c6I2Yb6d6zq3gk8m5Xr0kB1t5Jc2a","created_at":"2025-03-04T05:06:07Z"}`)
	})
	if err != nil {
		log.Fatal(err)
	}
}
