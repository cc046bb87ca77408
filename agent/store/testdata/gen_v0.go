//go:build ignore

// gen_v0 writes v0.db, a database in the unversioned layout (schema v0): no
// meta bucket, and custom domains kept only in each app's "domains" list.
// The migration test opens a copy of it. Regenerate from agent/store with:
//
//	go run testdata/gen_v0.go testdata/v0.db
package main

import (
	"encoding/binary"
	"fmt"
	"log"
	"os"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run testdata/gen_v0.go OUT.db")
	}
	os.Remove(os.Args[1])
	db, err := bolt.Open(os.Args[1], 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		apps, err := tx.CreateBucket([]byte("apps"))
		if err != nil {
			return err
		}
		apps.Put([]byte("blog"), []byte(`{"name":"blog","created_at":"2025-01-02T03:04:05Z","domains":["blog.example.com","www.example.com"],"formation":{"web":2},"live_release":2,"live_slot":"green"}`))
		apps.Put([]byte("shop"), []byte(`{"name":"shop","created_at":"2025-02-03T04:05:06Z"}`))
		rels, err := tx.CreateBucket([]byte("releases"))
		if err != nil {
			return err
		}
		blog, err := rels.CreateBucket([]byte("blog"))
		if err != nil {
			return err
		}
		for v, desc := range []string{"", "Deploy 1a2b3c4", "Deploy 5d6e7f8"} {
			if v == 0 {
				continue
			}
			key := make([]byte, 8)
			binary.BigEndian.PutUint64(key, uint64(v))
			val := fmt.Sprintf(`{"app":"blog","version":%d,"description":%q,"status":"live","created_at":"2025-01-02T03:0%d:00Z"}`, v, desc, v)
			if err := blog.Put(key, []byte(val)); err != nil {
				return err
			}
		}
		return blog.SetSequence(2)
	})
	if err != nil {
		log.Fatal(err)
	}
}
