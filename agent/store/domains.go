package store

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/pierhq/pier/api"
)

// hostLabel is one label of a DNS name.
var hostLabel = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`) })

// NormalizeHost lower-cases host, drops a trailing dot, and checks that it
// is a DNS name with at least two labels (no scheme, port or path).
func NormalizeHost(host string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	labels := strings.Split(h, ".")
	if len(h) > 253 || len(labels) < 2 {
		return "", invalid("invalid domain %q: give a host name such as www.example.com", host)
	}
	for _, l := range labels {
		if !hostLabel().MatchString(l) {
			return "", invalid("invalid domain %q: give a host name such as www.example.com, without scheme, port or path", host)
		}
	}
	return h, nil
}

// AddDomain routes host to app. A host belongs to at most one app:
// ErrDomainTaken if any app has it already.
func (s *Store) AddDomain(app, host string) (api.Domain, error) {
	h, err := NormalizeHost(host)
	if err != nil {
		return api.Domain{}, err
	}
	d := api.Domain{Host: h, App: app, CreatedAt: now()}
	err = s.update(func(tx *bolt.Tx) error {
		a, err := getApp(tx, app)
		if err != nil {
			return err
		}
		domains := tx.Bucket(bucketDomains)
		var owner api.Domain
		if ok, err := getJSON(domains, []byte(h), &owner); err != nil {
			return fmt.Errorf("reading domain %s: %w", h, err)
		} else if ok && owner.App == app {
			return detail(ErrDomainTaken, "%s is already a domain of %s", h, app)
		} else if ok {
			return detail(ErrDomainTaken, "%s is already used by another app", h)
		}
		if err := putJSON(domains, []byte(h), d); err != nil {
			return err
		}
		a.Domains = append(a.Domains, h)
		slices.Sort(a.Domains)
		return putJSON(tx.Bucket(bucketApps), []byte(app), a)
	})
	if err != nil {
		return api.Domain{}, err
	}
	return d, nil
}

// RemoveDomain stops routing host to app; ErrDomainNotFound if app does not
// have it.
func (s *Store) RemoveDomain(app, host string) error {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	return s.update(func(tx *bolt.Tx) error {
		a, err := getApp(tx, app)
		if err != nil {
			return err
		}
		domains := tx.Bucket(bucketDomains)
		var owner api.Domain
		if ok, err := getJSON(domains, []byte(h), &owner); err != nil {
			return fmt.Errorf("reading domain %s: %w", h, err)
		} else if !ok || owner.App != app {
			return detail(ErrDomainNotFound, "%s is not a domain of %s", h, app)
		}
		if err := domains.Delete([]byte(h)); err != nil {
			return fmt.Errorf("removing domain %s: %w", h, err)
		}
		a.Domains = slices.DeleteFunc(a.Domains, func(d string) bool { return d == h })
		if len(a.Domains) == 0 {
			a.Domains = nil
		}
		return putJSON(tx.Bucket(bucketApps), []byte(app), a)
	})
}

// Domains returns the app's custom domains, sorted by host.
func (s *Store) Domains(app string) ([]api.Domain, error) {
	out := []api.Domain{}
	err := s.view(func(tx *bolt.Tx) error {
		if err := requireApp(tx, app); err != nil {
			return err
		}
		return forEachDomain(tx, func(d api.Domain) error {
			if d.App == app {
				out = append(out, d)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DomainApp returns the app that owns host; ErrDomainNotFound if none does.
func (s *Store) DomainApp(host string) (string, error) {
	h := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(host)), ".")
	var d api.Domain
	err := s.view(func(tx *bolt.Tx) error {
		ok, err := getJSON(tx.Bucket(bucketDomains), []byte(h), &d)
		if err != nil {
			return fmt.Errorf("reading domain %s: %w", h, err)
		}
		if !ok {
			return detail(ErrDomainNotFound, "no app has the domain %s", h)
		}
		return nil
	})
	return d.App, err
}

// AllDomains returns the custom domains of every app, sorted by host.
func (s *Store) AllDomains() ([]api.Domain, error) {
	out := []api.Domain{}
	err := s.view(func(tx *bolt.Tx) error {
		return forEachDomain(tx, func(d api.Domain) error {
			out = append(out, d)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// forEachDomain calls fn for each domain in host order.
func forEachDomain(tx *bolt.Tx, fn func(api.Domain) error) error {
	return tx.Bucket(bucketDomains).ForEach(func(k, _ []byte) error {
		var d api.Domain
		if _, err := getJSON(tx.Bucket(bucketDomains), k, &d); err != nil {
			return fmt.Errorf("reading domain %s: %w", k, err)
		}
		return fn(d)
	})
}

// deleteDomainsOf frees every host of app.
func deleteDomainsOf(tx *bolt.Tx, app string) error {
	var hosts [][]byte
	err := forEachDomain(tx, func(d api.Domain) error {
		if d.App == app {
			hosts = append(hosts, []byte(d.Host))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if err := tx.Bucket(bucketDomains).Delete(h); err != nil {
			return fmt.Errorf("freeing domain %s: %w", h, err)
		}
	}
	return nil
}
