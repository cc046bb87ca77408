package store

import (
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/pierhq/pier/api"
)

// ForgetSealed makes the database at path, whose key is lost, open with
// newKey: every sealed value (each app's config, each release's config
// snapshot) becomes an empty set of vars sealed with newKey, the key check
// is sealed anew, and each app records the names of the config vars it
// lost (lost, from the backup's manifest: the names are sealed too) in
// api.App.LostConfig, for `pier config` to show until they are set again.
// Webhooks and log drains, whose URLs and secrets were sealed, are removed:
// they must be added again.
// Everything else (apps, releases, slugs' ids, domains, tokens, keys) is
// kept. It returns how many sealed values it dropped. No process may hold
// the file.
func ForgetSealed(path string, newKey []byte, lost map[string][]string) (int, error) {
	sl, err := newSealer(newKey)
	if err != nil {
		return 0, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return 0, fmt.Errorf("%s is in use by a running pier agent: stop it first", path)
	}
	if err != nil {
		return 0, fmt.Errorf("opening database %s: %w", path, err)
	}
	defer db.Close()
	s := &Store{db: db, seal: sl, path: path}
	n := 0
	err = db.Update(func(tx *bolt.Tx) error {
		if v, _, err := readVersion(tx); err != nil || v != SchemaVersion {
			return fmt.Errorf("the store has schema v%d, not v%d (%v)", v, SchemaVersion, err)
		}
		empty := func(b *bolt.Bucket, k, where []byte) error {
			sealed, err := s.sealVars(nil, where)
			if err != nil {
				return err
			}
			n++
			return b.Put(k, sealed)
		}
		if err := forEachSealed(tx, empty); err != nil {
			return err
		}
		gone, err := forgetTargets(tx)
		if err != nil {
			return err
		}
		n += gone
		apps := tx.Bucket(bucketApps)
		err = forEachKey(apps, func(name []byte) error {
			var a api.App
			if _, err := getJSON(apps, name, &a); err != nil {
				return err
			}
			a.LostConfig = slices.Sorted(slices.Values(append(a.LostConfig, lost[string(name)]...)))
			a.LostConfig = slices.Compact(a.LostConfig)
			return putJSON(apps, name, a)
		})
		if err != nil {
			return err
		}
		sealed, err := sl.seal([]byte("pier"), metaKeyCheck)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaKeyCheck, sealed)
	})
	if err != nil {
		return 0, fmt.Errorf("dropping the values sealed with the lost key: %w", err)
	}
	return n, nil
}

// SetAgain drops names from the app's LostConfig: they were set (or
// unset) again.
func (s *Store) SetAgain(app string, names []string) error {
	_, err := s.UpdateApp(app, func(a *api.App) error {
		a.LostConfig = slices.DeleteFunc(a.LostConfig, func(n string) bool { return slices.Contains(names, n) })
		if len(a.LostConfig) == 0 {
			a.LostConfig = nil
		}
		return nil
	})
	return err
}
