package store

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// migrations[v] upgrades a file from schema v to v+1 inside the caller's
// transaction. Add one entry per new SchemaVersion and keep a small database
// of the old version in testdata/ to test it.
var migrations = []func(tx *bolt.Tx) error{
	0: migrateV0,
	1: migrateV1,
	2: migrateV2,
	3: migrateV3,
}

// migrate brings the file to SchemaVersion. A new file is laid out directly;
// an older one is first copied to <path>.v<old>.bak, then upgraded in one
// transaction, so a failure leaves it as it was.
func (s *Store) migrate() error {
	var version int
	var fresh bool
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		version, fresh, err = readVersion(tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("reading schema version of %s: %w", s.path, err)
	}
	switch {
	case fresh:
		return s.update(func(tx *bolt.Tx) error { return layOut(tx) })
	case version == SchemaVersion:
		return nil
	case version > SchemaVersion:
		return fmt.Errorf("%s has schema v%d, newer than this pier knows (v%d): upgrade pier, or restore a backup made by this version", s.path, version, SchemaVersion)
	}

	bak := fmt.Sprintf("%s.v%d.bak", s.path, version)
	if err := writeFileAtomic(bak, 0o600, func(w io.Writer) error {
		_, err := s.Backup(w)
		return err
	}); err != nil {
		return fmt.Errorf("backing up %s before migrating it: %w", s.path, err)
	}
	err = s.update(func(tx *bolt.Tx) error {
		for v := version; v < SchemaVersion; v++ {
			if err := migrations[v](tx); err != nil {
				return fmt.Errorf("v%d to v%d: %w", v, v+1, err)
			}
		}
		return layOut(tx)
	})
	if err != nil {
		return fmt.Errorf("migrating %s (unchanged; a copy is at %s): %w", s.path, bak, err)
	}
	return nil
}

// readVersion reports the file's schema version, or fresh when it holds no
// buckets at all. A file with buckets but no meta is version 0.
func readVersion(tx *bolt.Tx) (version int, fresh bool, err error) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		empty := true
		_ = tx.ForEach(func([]byte, *bolt.Bucket) error {
			empty = false
			return nil
		})
		return 0, empty, nil
	}
	raw := meta.Get(metaVersion)
	v, err := strconv.Atoi(string(raw))
	if err != nil || v < 0 {
		return 0, false, fmt.Errorf("meta/version holds %q, not a schema version", raw)
	}
	return v, false, nil
}

// layOut creates every bucket of the current schema and records its version.
func layOut(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(metaVersion, []byte(strconv.Itoa(SchemaVersion)))
}

// migrateV0 upgrades the unversioned layout, in which custom domains lived
// only in each app's Domains list, by indexing them in the domains bucket so
// a host has exactly one owner.
func migrateV0(tx *bolt.Tx) error {
	apps := tx.Bucket(bucketApps)
	if apps == nil {
		return nil
	}
	domains, err := tx.CreateBucketIfNotExists(bucketDomains)
	if err != nil {
		return fmt.Errorf("creating bucket %s: %w", bucketDomains, err)
	}
	return apps.ForEach(func(k, v []byte) error {
		var a api.App
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("decoding app %s: %w", k, err)
		}
		for _, host := range a.Domains {
			var other api.Domain
			if ok, err := getJSON(domains, []byte(host), &other); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("%s is a domain of both %s and %s: remove it from one of them with an older pier first", host, other.App, a.Name)
			}
			d := api.Domain{Host: host, App: a.Name, CreatedAt: a.CreatedAt}
			if err := putJSON(domains, []byte(host), d); err != nil {
				return err
			}
		}
		return nil
	})
}

// migrateV1 adds the bootstrap bucket (layOut creates it). Admin tokens
// taken before it existed are marked at the agent's next start, when it
// hands the store its admin.token again; one revoked before the upgrade is
// taken that once more, as every start before did, and revoked for good the
// next time.
func migrateV1(tx *bolt.Tx) error { return nil }

// migrateV2 gives tokens and SSH keys a role (v3), keeping what each could
// do: every token was an admin, and every key could push and fetch every
// app, which is the deploy role on all apps. The audit bucket is new
// (layOut creates it).
func migrateV2(tx *bolt.Tx) error {
	if err := setRoles(tx.Bucket(bucketTokens), api.RoleAdmin); err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	if err := setRoles(tx.Bucket(bucketKeys), api.RoleDeploy); err != nil {
		return fmt.Errorf("SSH keys: %w", err)
	}
	return nil
}

// migrateV3 adds the buckets of add-ons (addons, addon_secrets) and of
// pipelines (pipelines, pipeline_apps), which layOut creates; no app has an
// add-on or is in a pipeline yet.
func migrateV3(tx *bolt.Tx) error { return nil }

// setRoles sets "role" to role in every JSON record of b that has none,
// keeping the record's other fields as they are.
func setRoles(b *bolt.Bucket, role string) error {
	if b == nil {
		return nil
	}
	type update struct{ k, v []byte }
	var ups []update
	err := b.ForEach(func(k, v []byte) error {
		var rec map[string]json.RawMessage
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decoding %s: %w", k, err)
		}
		if r, ok := rec["role"]; ok && string(r) != `""` {
			return nil
		}
		rec["role"], _ = json.Marshal(role)
		out, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		ups = append(ups, update{slices.Clone(k), out})
		return nil
	})
	if err != nil {
		return err
	}
	for _, u := range ups {
		if err := b.Put(u.k, u.v); err != nil {
			return err
		}
	}
	return nil
}
