package store

import (
	"errors"
	"fmt"
	"sort"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// Add-ons: addons maps a name to its api.Addon (without its state, which
// the server's supervisor knows); addon_secrets maps it to its sealed
// password.

var (
	ErrAddonNotFound = errors.New("add-on not found")
	ErrAddonExists   = errors.New("add-on already exists")
)

// CreateAddon records a new add-on and its password in one transaction.
// The owner app must exist and no add-on may have the name. When pick is
// set, it chooses the add-on's user id among those no app or add-on holds.
func (s *Store) CreateAddon(a api.Addon, password string, pick func(used map[int]bool) (int, error)) (api.Addon, error) {
	a.State, a.Restarts = "", 0
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	err := s.update(func(tx *bolt.Tx) error {
		if err := requireApp(tx, a.App); err != nil {
			return err
		}
		b := tx.Bucket(bucketAddons)
		if b.Get([]byte(a.Name)) != nil {
			return detail(ErrAddonExists, "an add-on called %s already exists: choose another name (--name)", a.Name)
		}
		if pick != nil {
			used, err := usedUIDs(tx)
			if err != nil {
				return err
			}
			if a.UID, err = pick(used); err != nil {
				return err
			}
		}
		sealed, err := s.seal.seal([]byte(password), addonSecretAt(a.Name))
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketAddonSecrets).Put([]byte(a.Name), sealed); err != nil {
			return err
		}
		return putJSON(b, []byte(a.Name), a)
	})
	return a, err
}

// usedUIDs are the user ids apps (and their builds) and add-ons hold.
func usedUIDs(tx *bolt.Tx) (map[int]bool, error) {
	used := map[int]bool{}
	err := tx.Bucket(bucketApps).ForEach(func(k, _ []byte) error {
		o, err := getApp(tx, string(k))
		if o.UID != 0 {
			used[o.UID], used[o.UID+1] = true, true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	err = tx.Bucket(bucketAddons).ForEach(func(k, v []byte) error {
		var a api.Addon
		ok, err := getJSON(tx.Bucket(bucketAddons), k, &a)
		if ok && a.UID != 0 {
			used[a.UID] = true
		}
		return err
	})
	return used, err
}

// GetAddon returns the add-on called name.
func (s *Store) GetAddon(name string) (api.Addon, error) {
	var a api.Addon
	err := s.view(func(tx *bolt.Tx) error {
		var err error
		a, err = getAddon(tx, name)
		return err
	})
	return a, err
}

func getAddon(tx *bolt.Tx, name string) (api.Addon, error) {
	var a api.Addon
	ok, err := getJSON(tx.Bucket(bucketAddons), []byte(name), &a)
	if err != nil {
		return a, fmt.Errorf("reading add-on %s: %w", name, err)
	}
	if !ok {
		return a, detail(ErrAddonNotFound, "add-on %q not found: see `pier addons list`", name)
	}
	return a, nil
}

// ListAddons returns every add-on, by name.
func (s *Store) ListAddons() ([]api.Addon, error) {
	var out []api.Addon
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAddons).ForEach(func(k, _ []byte) error {
			a, err := getAddon(tx, string(k))
			out = append(out, a)
			return err
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, err
}

// AppAddons returns the add-ons attached to app, by name.
func (s *Store) AppAddons(app string) ([]api.Addon, error) {
	all, err := s.ListAddons()
	if err != nil {
		return nil, err
	}
	var out []api.Addon
	for _, a := range all {
		if _, ok := a.AttachmentOf(app); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// UpdateAddon changes the add-on called name with fn in one transaction.
func (s *Store) UpdateAddon(name string, fn func(*api.Addon) error) (api.Addon, error) {
	var a api.Addon
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if a, err = getAddon(tx, name); err != nil {
			return err
		}
		if err := fn(&a); err != nil {
			return err
		}
		return putJSON(tx.Bucket(bucketAddons), []byte(name), a)
	})
	return a, err
}

// AddonPassword returns the add-on's password.
func (s *Store) AddonPassword(name string) (string, error) {
	var pw string
	err := s.view(func(tx *bolt.Tx) error {
		sealed := tx.Bucket(bucketAddonSecrets).Get([]byte(name))
		if sealed == nil {
			return detail(ErrAddonNotFound, "add-on %q not found", name)
		}
		plain, err := s.seal.open(sealed, addonSecretAt(name))
		if err != nil {
			return fmt.Errorf("opening the password of add-on %s: %w", name, err)
		}
		pw = string(plain)
		return nil
	})
	return pw, err
}

// DeleteAddon removes the add-on and its password.
func (s *Store) DeleteAddon(name string) error {
	return s.update(func(tx *bolt.Tx) error {
		if _, err := getAddon(tx, name); err != nil {
			return err
		}
		if err := tx.Bucket(bucketAddonSecrets).Delete([]byte(name)); err != nil {
			return err
		}
		return tx.Bucket(bucketAddons).Delete([]byte(name))
	})
}

// addonSecretAt binds an add-on's sealed password to its place.
func addonSecretAt(name string) []byte {
	return fmt.Appendf(nil, "%s\x00%s", bucketAddonSecrets, name)
}
