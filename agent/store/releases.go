package store

import (
	"encoding/binary"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// CreateRelease records a new release of r.App with the config snapshot
// vars. The store assigns r.Version (the app's last version + 1), sets
// r.CreatedAt when zero, r.Status to pending when empty, and r.ConfigKeys to
// the sorted names of vars; the values are sealed in release_config.
func (s *Store) CreateRelease(r api.Release, vars map[string]string) (api.Release, error) {
	if err := validVars(vars); err != nil {
		return api.Release{}, err
	}
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	if r.Status == "" {
		r.Status = api.StatusPending
	}
	r.ConfigKeys = sortedKeys(vars)
	err := s.update(func(tx *bolt.Tx) error { return s.createRelease(tx, &r, vars) })
	if err != nil {
		return api.Release{}, fmt.Errorf("creating release of %s: %w", r.App, err)
	}
	return r, nil
}

// createRelease stores r, numbering it, with its sealed vars.
func (s *Store) createRelease(tx *bolt.Tx, r *api.Release, vars map[string]string) error {
	if err := requireApp(tx, r.App); err != nil {
		return err
	}
	rels, err := tx.Bucket(bucketReleases).CreateBucketIfNotExists([]byte(r.App))
	if err != nil {
		return fmt.Errorf("creating releases of %s: %w", r.App, err)
	}
	seq, err := rels.NextSequence()
	if err != nil {
		return fmt.Errorf("numbering release of %s: %w", r.App, err)
	}
	r.Version = int(seq)
	key := u64(seq)
	if err := putJSON(rels, key, *r); err != nil {
		return err
	}
	cfgs, err := tx.Bucket(bucketReleaseConfig).CreateBucketIfNotExists([]byte(r.App))
	if err != nil {
		return fmt.Errorf("creating release configs of %s: %w", r.App, err)
	}
	sealed, err := s.sealVars(vars, releaseConfigAt(r.App, r.Version))
	if err != nil {
		return err
	}
	return cfgs.Put(key, sealed)
}

// GetRelease returns version of app; ErrReleaseNotFound if there is none.
func (s *Store) GetRelease(app string, version int) (api.Release, error) {
	var r api.Release
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		r, err = getRelease(tx, app, version)
		return err
	})
	return r, err
}

func getRelease(tx *bolt.Tx, app string, version int) (api.Release, error) {
	var r api.Release
	if err := requireApp(tx, app); err != nil {
		return r, err
	}
	ok := false
	if version > 0 {
		var err error
		ok, err = getJSON(tx.Bucket(bucketReleases).Bucket([]byte(app)), u64(uint64(version)), &r)
		if err != nil {
			return r, fmt.Errorf("reading release v%d of %s: %w", version, app, err)
		}
	}
	if !ok {
		return r, detail(ErrReleaseNotFound, "release v%d of %s not found", version, app)
	}
	return r, nil
}

// ListReleases returns the app's releases, newest first.
func (s *Store) ListReleases(app string) ([]api.Release, error) {
	rels := []api.Release{}
	err := s.view(func(tx *bolt.Tx) error {
		if err := requireApp(tx, app); err != nil {
			return err
		}
		b := tx.Bucket(bucketReleases).Bucket([]byte(app))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			r, err := getRelease(tx, app, int(binary.BigEndian.Uint64(k)))
			if err != nil {
				return err
			}
			rels = append(rels, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rels, nil
}

// UpdateRelease lets fn change a release (its status, slot, reason...) in
// one transaction; an error from fn writes nothing. The app, version and
// config keys of a release never change.
func (s *Store) UpdateRelease(app string, version int, fn func(*api.Release) error) (api.Release, error) {
	var r api.Release
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		r, err = updateRelease(tx, app, version, fn)
		return err
	})
	if err != nil {
		return api.Release{}, err
	}
	return r, nil
}

func updateRelease(tx *bolt.Tx, app string, version int, fn func(*api.Release) error) (api.Release, error) {
	r, err := getRelease(tx, app, version)
	if err != nil {
		return r, err
	}
	keys := r.ConfigKeys
	if err := fn(&r); err != nil {
		return r, err
	}
	r.App, r.Version, r.ConfigKeys = app, version, keys
	return r, putJSON(tx.Bucket(bucketReleases).Bucket([]byte(app)), u64(uint64(version)), r)
}

// ReleaseConfig returns the config vars the release was made with.
func (s *Store) ReleaseConfig(app string, version int) (map[string]string, error) {
	var vars map[string]string
	err := s.view(func(tx *bolt.Tx) error {
		if _, err := getRelease(tx, app, version); err != nil {
			return err
		}
		var sealed []byte
		if b := tx.Bucket(bucketReleaseConfig).Bucket([]byte(app)); b != nil {
			sealed = b.Get(u64(uint64(version)))
		}
		var err error
		vars, err = s.openVars(sealed, releaseConfigAt(app, version))
		if err != nil {
			return fmt.Errorf("reading config of release v%d of %s: %w", version, app, err)
		}
		return nil
	})
	return vars, err
}

// releaseConfigAt is the additional data binding a release's sealed config
// to its place.
func releaseConfigAt(app string, version int) []byte {
	return fmt.Appendf(nil, "%s\x00%s\x00%d", bucketReleaseConfig, app, version)
}

func sortedKeys(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
