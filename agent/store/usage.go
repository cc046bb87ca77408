package store

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Usage analytics live in one bucket, made when first needed:
//
//	usage
//	└── <app>/                  nested bucket
//	    └── <day YYYY-MM-DD>    UsageRecord (JSON): the day's requests, bytes,
//	                            status codes, and its visitors' sketch (registers
//	                            of salted hashes: no address, and no way back to one)

var bucketUsage = []byte("usage")

// UsageRecord is one app's usage on one day (UTC).
type UsageRecord struct {
	Day      string         `json:"day"` // 2006-01-02
	Requests uint64         `json:"requests"`
	Bytes    uint64         `json:"bytes"`
	Statuses map[int]uint64 `json:"statuses"`
	// Sketch is the day's visitors as a HyperLogLog sketch of salted
	// hashes of their addresses; the salt is never stored.
	Sketch []byte `json:"sketch,omitempty"`
}

// SaveUsage stores app's record of rec.Day and keeps the app's last keep
// days (older ones are deleted).
func (s *Store) SaveUsage(app string, rec UsageRecord, keep int) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := requireApp(tx, app); err != nil {
			return err
		}
		top, err := tx.CreateBucketIfNotExists(bucketUsage)
		if err != nil {
			return err
		}
		b, err := top.CreateBucketIfNotExists([]byte(app))
		if err != nil {
			return err
		}
		if err := putJSON(b, []byte(rec.Day), rec); err != nil {
			return fmt.Errorf("saving the usage of %s on %s: %w", app, rec.Day, err)
		}
		// Days sort as their keys do: delete the oldest past keep.
		over := b.Stats().KeyN - keep
		c := b.Cursor()
		for k, _ := c.First(); k != nil && over > 0; k, _ = c.First() {
			if err := b.Delete(k); err != nil {
				return err
			}
			over--
		}
		return nil
	})
}

// Usage returns app's records of its last days days, newest first.
func (s *Store) Usage(app string, days int) ([]UsageRecord, error) {
	out := []UsageRecord{}
	err := s.view(func(tx *bolt.Tx) error {
		if err := requireApp(tx, app); err != nil {
			return err
		}
		b := tx.Bucket(bucketUsage)
		if b != nil {
			b = b.Bucket([]byte(app))
		}
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Last(); k != nil && len(out) < days; k, _ = c.Prev() {
			var rec UsageRecord
			if _, err := getJSON(b, k, &rec); err != nil {
				return err
			}
			out = append(out, rec)
		}
		return nil
	})
	return out, err
}

// deleteUsageOf removes app's usage records.
func deleteUsageOf(tx *bolt.Tx, app string) error {
	top := tx.Bucket(bucketUsage)
	if top == nil || top.Bucket([]byte(app)) == nil {
		return nil
	}
	return top.DeleteBucket([]byte(app))
}
