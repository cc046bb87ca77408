package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestDomains(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog", "shop")

	d, err := s.AddDomain("blog", " WWW.Example.com. ")
	if err != nil {
		t.Fatalf("AddDomain: %v", err)
	}
	if d.Host != "www.example.com" || d.App != "blog" || d.CreatedAt.IsZero() {
		t.Errorf("AddDomain = %+v, want host normalized to www.example.com", d)
	}
	if _, err := s.AddDomain("blog", "a.example.com"); err != nil {
		t.Fatal(err)
	}

	_, err = s.AddDomain("shop", "www.example.com")
	if !errors.Is(err, ErrDomainTaken) {
		t.Fatalf("AddDomain of a taken host = %v, want ErrDomainTaken", err)
	}
	if msg := err.Error(); msg != "www.example.com is already used by another app" || strings.Contains(msg, "blog") {
		t.Errorf("taken message = %q: must not name the owner", msg)
	}
	if _, err := s.AddDomain("blog", "www.example.com"); !errors.Is(err, ErrDomainTaken) {
		t.Errorf("adding the same host twice = %v, want ErrDomainTaken", err)
	}

	if owner, err := s.DomainApp("WWW.example.com"); err != nil || owner != "blog" {
		t.Errorf("DomainApp = %q, %v; want blog", owner, err)
	}
	ds, err := s.Domains("blog")
	if err != nil || len(ds) != 2 || ds[0].Host != "a.example.com" || ds[1].Host != "www.example.com" {
		t.Errorf("Domains(blog) = %+v, %v", ds, err)
	}
	if ds, err := s.Domains("shop"); err != nil || len(ds) != 0 {
		t.Errorf("Domains(shop) = %+v, %v; want none", ds, err)
	}
	if a, _ := s.GetApp("blog"); !reflect.DeepEqual(a.Domains, []string{"a.example.com", "www.example.com"}) {
		t.Errorf("App.Domains = %v", a.Domains)
	}

	if err := s.RemoveDomain("shop", "www.example.com"); !errors.Is(err, ErrDomainNotFound) {
		t.Errorf("RemoveDomain by a non-owner = %v, want ErrDomainNotFound", err)
	}
	if err := s.RemoveDomain("blog", "www.example.com"); err != nil {
		t.Fatalf("RemoveDomain: %v", err)
	}
	if _, err := s.DomainApp("www.example.com"); !errors.Is(err, ErrDomainNotFound) {
		t.Errorf("DomainApp after remove = %v, want ErrDomainNotFound", err)
	}
	if err := s.RemoveDomain("blog", "www.example.com"); !errors.Is(err, ErrDomainNotFound) {
		t.Errorf("second RemoveDomain = %v, want ErrDomainNotFound", err)
	}
	if a, _ := s.GetApp("blog"); !reflect.DeepEqual(a.Domains, []string{"a.example.com"}) {
		t.Errorf("App.Domains after remove = %v", a.Domains)
	}
	if _, err := s.AddDomain("shop", "www.example.com"); err != nil {
		t.Errorf("a freed host cannot be added to another app: %v", err)
	}
	all, err := s.AllDomains()
	if err != nil || len(all) != 2 || all[0].App != "blog" || all[1].App != "shop" {
		t.Errorf("AllDomains = %+v, %v", all, err)
	}
}

func TestAddDomainRejectsBadInput(t *testing.T) {
	s := newStore(t)
	mustCreateApp(t, s, "blog")
	tests := []struct {
		app, host string
		want      error
	}{
		{"blog", "", ErrInvalid},
		{"blog", "localhost", ErrInvalid},
		{"blog", "https://example.com", ErrInvalid},
		{"blog", "example.com:443", ErrInvalid},
		{"blog", "example.com/path", ErrInvalid},
		{"blog", "bad_host.example.com", ErrInvalid},
		{"blog", "-x.example.com", ErrInvalid},
		{"blog", "a..example.com", ErrInvalid},
		{"nope", "ok.example.com", ErrAppNotFound},
	}
	for _, tt := range tests {
		if _, err := s.AddDomain(tt.app, tt.host); !errors.Is(err, tt.want) {
			t.Errorf("AddDomain(%q, %q) = %v, want %v", tt.app, tt.host, err, tt.want)
		}
	}
	if all, _ := s.AllDomains(); len(all) != 0 {
		t.Errorf("bad input left domains: %v", all)
	}
}
