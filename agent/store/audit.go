package store

import (
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// MaxAudit is how many audit entries the store keeps; older ones are pruned
// as new ones arrive.
const MaxAudit = 10000

// AppendAudit records a change in the audit log, setting its Time when zero,
// and prunes the oldest entries beyond MaxAudit.
func (s *Store) AppendAudit(e api.AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = now()
	}
	return s.update(func(tx *bolt.Tx) error {
		if err := appendBounded(tx.Bucket(bucketAudit), e, s.maxAudit); err != nil {
			return fmt.Errorf("recording an audit entry: %w", err)
		}
		return nil
	})
}

// AuditFilter selects audit entries.
type AuditFilter struct {
	App   string    // only this app's ("" for all)
	Since time.Time // only entries after this (zero for all)
	Limit int       // only the last Limit (<= 0 for all kept)
}

// Audit returns the audit entries f selects, oldest first.
func (s *Store) Audit(f AuditFilter) ([]api.AuditEntry, error) {
	out := []api.AuditEntry{}
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		c := b.Cursor()
		for k, _ := c.Last(); k != nil && (f.Limit <= 0 || len(out) < f.Limit); k, _ = c.Prev() {
			var e api.AuditEntry
			if _, err := getJSON(b, k, &e); err != nil {
				return fmt.Errorf("reading the audit log: %w", err)
			}
			if !f.Since.IsZero() && !e.Time.After(f.Since) {
				break
			}
			if f.App != "" && e.App != f.App {
				continue
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}
