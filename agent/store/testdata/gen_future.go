//go:build ignore

// gen_future writes future.db, a database of a schema newer than any pier
// knows (v999), as a newer pier would leave on a data volume. A pier that
// finds it must refuse to start rather than downgrade it. Regenerate from
// agent/store with:
//
//	go run testdata/gen_future.go testdata/future.db
package main

import (
	"log"
	"os"

	bolt "go.etcd.io/bbolt"
)

func main() {
	if len(os.Args) != 2 {
		log.Fatal("usage: go run testdata/gen_future.go OUT.db")
	}
	os.Remove(os.Args[1])
	db, err := bolt.Open(os.Args[1], 0o600, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		return meta.Put([]byte("version"), []byte("999"))
	})
	if err != nil {
		log.Fatal(err)
	}
}
