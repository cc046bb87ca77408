package store

import (
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// Config returns the app's current config vars (an empty map when none).
func (s *Store) Config(app string) (map[string]string, error) {
	var vars map[string]string
	err := s.view(func(tx *bolt.Tx) error {
		if err := requireApp(tx, app); err != nil {
			return err
		}
		var err error
		vars, err = s.openVars(tx.Bucket(bucketConfig).Get([]byte(app)), configAt(app))
		if err != nil {
			return fmt.Errorf("reading config of %s: %w", app, err)
		}
		return nil
	})
	return vars, err
}

// SetConfig replaces the app's config vars with vars, sealed with a fresh
// nonce.
func (s *Store) SetConfig(app string, vars map[string]string) error {
	if err := validVars(vars); err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error { return s.setConfig(tx, app, vars) })
}

func (s *Store) setConfig(tx *bolt.Tx, app string, vars map[string]string) error {
	if err := requireApp(tx, app); err != nil {
		return err
	}
	sealed, err := s.sealVars(vars, configAt(app))
	if err != nil {
		return fmt.Errorf("setting config of %s: %w", app, err)
	}
	return tx.Bucket(bucketConfig).Put([]byte(app), sealed)
}

// configAt is the additional data binding an app's sealed config to its place.
func configAt(app string) []byte {
	return fmt.Appendf(nil, "%s\x00%s", bucketConfig, app)
}

func (s *Store) sealVars(vars map[string]string, where []byte) ([]byte, error) {
	if vars == nil {
		vars = map[string]string{}
	}
	plain, err := json.Marshal(vars)
	if err != nil {
		return nil, fmt.Errorf("encoding config vars: %w", err)
	}
	return s.seal.seal(plain, where)
}

// openVars decrypts sealed vars; nothing sealed is an empty map.
func (s *Store) openVars(sealed, where []byte) (map[string]string, error) {
	vars := map[string]string{}
	if sealed == nil {
		return vars, nil
	}
	plain, err := s.seal.open(sealed, where)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(plain, &vars); err != nil {
		return nil, fmt.Errorf("decoding config vars: %w", err)
	}
	return vars, nil
}

// validVars rejects names and values a process environment cannot carry.
func validVars(vars map[string]string) error {
	for k, v := range vars {
		switch {
		case k == "":
			return invalid("invalid config var name: it is empty")
		case strings.ContainsAny(k, "=\x00") || strings.TrimSpace(k) != k:
			return invalid("invalid config var name %q: it may not contain '=', NUL or surrounding spaces", k)
		case strings.Contains(v, "\x00"):
			return invalid("invalid value of config var %s: it may not contain NUL", k)
		}
	}
	return nil
}
