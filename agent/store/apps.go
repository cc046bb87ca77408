package store

import (
	"fmt"
	"regexp"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// appName is a DNS label, since an app is served at APP.<domain>.
var appName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`) })

// ValidAppName reports why name cannot name an app, or nil.
func ValidAppName(name string) error {
	if !appName().MatchString(name) {
		return invalid("invalid app name %q: use lower-case letters, digits and dashes, start with a letter, at most 63 characters", name)
	}
	return nil
}

// CreateApp adds a new app; ErrAppExists if the name is taken.
func (s *Store) CreateApp(a api.App) error {
	if err := ValidAppName(a.Name); err != nil {
		return err
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	return s.update(func(tx *bolt.Tx) error {
		if appExists(tx, a.Name) {
			return detail(ErrAppExists, "app %s already exists", a.Name)
		}
		if len(a.Domains) > 0 {
			return invalid("app %s: add domains with AddDomain, not in CreateApp", a.Name)
		}
		return putJSON(tx.Bucket(bucketApps), []byte(a.Name), a)
	})
}

// GetApp returns one app; ErrAppNotFound if there is none by that name.
func (s *Store) GetApp(name string) (api.App, error) {
	var a api.App
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		a, err = getApp(tx, name)
		return err
	})
	return a, err
}

func getApp(tx *bolt.Tx, name string) (api.App, error) {
	var a api.App
	ok, err := getJSON(tx.Bucket(bucketApps), []byte(name), &a)
	if err != nil {
		return a, fmt.Errorf("reading app %s: %w", name, err)
	}
	if !ok {
		return a, appNotFound(name)
	}
	return a, nil
}

// ListApps returns every app, sorted by name.
func (s *Store) ListApps() ([]api.App, error) {
	apps := []api.App{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApps).ForEach(func(k, _ []byte) error {
			a, err := getApp(tx, string(k))
			apps = append(apps, a)
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("listing apps: %w", err)
	}
	return apps, nil
}

// UpdateApp reads the app, lets fn change it and writes it back, all in one
// transaction. If fn returns an error nothing is written and the error is
// returned as is. fn may not rename the app or edit its Domains (use
// AddDomain and RemoveDomain).
func (s *Store) UpdateApp(name string, fn func(*api.App) error) (api.App, error) {
	var a api.App
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		a, err = updateApp(tx, name, fn)
		return err
	})
	if err != nil {
		return api.App{}, err
	}
	return a, nil
}

func updateApp(tx *bolt.Tx, name string, fn func(*api.App) error) (api.App, error) {
	a, err := getApp(tx, name)
	if err != nil {
		return a, err
	}
	domains := a.Domains
	if err := fn(&a); err != nil {
		return a, err
	}
	if a.Name != name {
		return a, invalid("app %s cannot be renamed to %s", name, a.Name)
	}
	a.Domains = domains
	return a, putJSON(tx.Bucket(bucketApps), []byte(name), a)
}

// DeleteApp removes the app and everything that belongs to it: releases,
// config, release configs, domains (free for other apps after), events,
// webhooks, drains, usage and its place in a pipeline.
func (s *Store) DeleteApp(name string) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := requireApp(tx, name); err != nil {
			return err
		}
		key := []byte(name)
		for _, b := range [][]byte{bucketReleases, bucketReleaseConfig, bucketEvents} {
			if tx.Bucket(b).Bucket(key) == nil {
				continue
			}
			if err := tx.Bucket(b).DeleteBucket(key); err != nil {
				return fmt.Errorf("deleting %s of %s: %w", b, name, err)
			}
		}
		if err := tx.Bucket(bucketConfig).Delete(key); err != nil {
			return fmt.Errorf("deleting config of %s: %w", name, err)
		}
		if err := deleteDomainsOf(tx, name); err != nil {
			return err
		}
		if err := deleteWebhooksOf(tx, name); err != nil {
			return err
		}
		if err := deleteDrainsOf(tx, name); err != nil {
			return err
		}
		if err := deleteUsageOf(tx, name); err != nil {
			return err
		}
		if err := leavePipeline(tx, name); err != nil {
			return err
		}
		return tx.Bucket(bucketApps).Delete(key)
	})
}

// AssignUID returns the user id of app, giving it one first if it has none:
// pick chooses among the ids no other app, build or add-on holds. The choice and the save
// are one transaction, so two apps never get the same id.
func (s *Store) AssignUID(name string, pick func(used map[int]bool) (int, error)) (int, error) {
	var uid int
	err := s.update(func(tx *bolt.Tx) error {
		a, err := getApp(tx, name)
		if err != nil {
			return err
		}
		if a.UID != 0 {
			uid = a.UID
			return nil
		}
		used, err := usedUIDs(tx)
		if err != nil {
			return err
		}
		if uid, err = pick(used); err != nil {
			return err
		}
		a.UID = uid
		return putJSON(tx.Bucket(bucketApps), []byte(name), a)
	})
	return uid, err
}
