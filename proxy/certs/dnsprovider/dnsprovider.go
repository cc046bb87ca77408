// Package dnsprovider sets the TXT records of the ACME DNS-01 challenge in
// a cloud's DNS: Amazon Route 53 or Google Cloud DNS. Each provider is a
// libdns RecordAppender and RecordDeleter, what certmagic's DNS-01 solver
// needs to obtain a wildcard certificate such as *.apps.example.com: over
// AWS's SDK, or over Cloud DNS's JSON API with Google's OAuth credentials.
//
// Credentials come from the cloud's default chain: on a VM, the instance
// profile (AWS) or the service account (GCP) that terraform/aws and
// terraform/gcp grant; elsewhere the usual environment and files.
package dnsprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libdns/libdns"
)

// The providers, as --acme-dns names them.
const (
	Route53 = "route53"
	GCloud  = "gcloud"
)

// Names are the providers there are.
var Names = []string{Route53, GCloud}

// Config chooses a provider and its zone.
type Config struct {
	// Provider is Route53 or GCloud.
	Provider string
	// Zone is the zone the records go into: its id (a Route 53 hosted
	// zone id like Z0123456789ABC, a Cloud DNS managed zone name like
	// example-com) or its DNS name (example.com), which is looked up.
	Zone string
	// Project is the Google Cloud project of the zone (GCloud only).
	Project string
	// Endpoint replaces the cloud's API URL (a private endpoint); "" is
	// the cloud's own.
	Endpoint string
	// ChangeTimeout bounds the wait for a change to reach every name
	// server of the zone (0: 3 minutes).
	ChangeTimeout time.Duration
}

// Provider sets and removes TXT records; certmagic.DNSProvider.
type Provider interface {
	libdns.RecordAppender
	libdns.RecordDeleter
}

// Check reports what is wrong with c before anything is contacted.
func (c Config) Check() error {
	switch c.Provider {
	case Route53, GCloud:
	case "":
		return errors.New("no DNS provider: choose one of " + strings.Join(Names, ", "))
	default:
		return fmt.Errorf("unknown DNS provider %q: choose one of %s", c.Provider, strings.Join(Names, ", "))
	}
	if strings.TrimSpace(c.Zone) == "" {
		return errors.New("no zone: give the zone's id or its DNS name")
	}
	if c.Provider == GCloud && strings.TrimSpace(c.Project) == "" {
		return errors.New("no project: Google Cloud DNS needs the project that holds the zone")
	}
	return nil
}

// ZoneName is the zone's DNS name when Zone gives one ("" for an id).
func (c Config) ZoneName() string {
	if !strings.Contains(c.Zone, ".") {
		return ""
	}
	return strings.ToLower(strings.TrimSuffix(c.Zone, "."))
}

// New returns the provider c names. It finds credentials but contacts the
// DNS API only when a record is set.
func New(ctx context.Context, c Config) (Provider, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if c.ChangeTimeout <= 0 {
		c.ChangeTimeout = defaultChangeTimeout
	}
	var z txtZone
	var err error
	switch c.Provider {
	case Route53:
		z, err = newRoute53(ctx, c)
	case GCloud:
		z, err = newGCloud(ctx, c)
	}
	if err != nil {
		return nil, err
	}
	return &records{zone: z}, nil
}

const (
	defaultChangeTimeout = 3 * time.Minute
	// pollEvery is how often a pending change is looked at.
	pollEvery = 2 * time.Second
	// callTimeout bounds one call to a DNS API.
	callTimeout = 30 * time.Second
	// minTTL is the TTL of a record given none.
	minTTL = 60 * time.Second
)

// waitDone polls done until it reports true, for at most timeout.
func waitDone(ctx context.Context, timeout time.Duration, what string, done func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, callTimeout)
		ok, err := done(cctx)
		ccancel()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not reach every name server within %s", what, timeout)
		case <-time.After(pollEvery):
		}
	}
}
