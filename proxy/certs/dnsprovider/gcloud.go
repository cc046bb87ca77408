package dnsprovider

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	dns "google.golang.org/api/dns/v1"
	"google.golang.org/api/option"
)

// gcloudZone sets records in a Google Cloud DNS managed zone, with the
// application default credentials (GOOGLE_APPLICATION_CREDENTIALS, the
// gcloud user's, or the VM's service account). A change is waited for
// until Cloud DNS reports it done.
type gcloudZone struct {
	svc     *dns.Service
	project string
	conf    Config
	timeout time.Duration

	mu   sync.Mutex
	name string // the managed zone's name, once known
}

func newGCloud(ctx context.Context, c Config) (*gcloudZone, error) {
	opts := []option.ClientOption{option.WithScopes(dns.NdevClouddnsReadwriteScope)}
	if c.Endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.Endpoint))
	}
	svc, err := dns.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("Google Cloud DNS client (application default credentials: the VM's service account, or GOOGLE_APPLICATION_CREDENTIALS): %w", err)
	}
	z := &gcloudZone{svc: svc, project: c.Project, conf: c, timeout: c.ChangeTimeout}
	if c.ZoneName() == "" {
		z.name = c.Zone
	}
	return z, nil
}

// zoneName is the managed zone's name: given, or found by its DNS name
// (a public zone's, when a private one has the same name).
func (z *gcloudZone) zoneName(ctx context.Context) (string, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.name != "" {
		return z.name, nil
	}
	dnsName := z.conf.ZoneName() + "."
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := z.svc.ManagedZones.List(z.project).DnsName(dnsName).Context(ctx).Do()
	if err != nil {
		return "", fmt.Errorf("finding the Cloud DNS zone %s in project %s: %w", dnsName, z.project, err)
	}
	for _, mz := range out.ManagedZones {
		if strings.EqualFold(mz.DnsName, dnsName) && (mz.Visibility == "" || mz.Visibility == "public") {
			z.name = mz.Name
			return z.name, nil
		}
	}
	return "", fmt.Errorf("no public Cloud DNS zone of project %s is for %s: give the managed zone's name instead, or create it", z.project, dnsName)
}

func (z *gcloudZone) getTXT(ctx context.Context, fqdn string) ([]string, time.Duration, error) {
	zone, err := z.zoneName(ctx)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := z.svc.ResourceRecordSets.List(z.project, zone).Name(fqdn).Type("TXT").Context(ctx).Do()
	if err != nil {
		return nil, 0, err
	}
	for _, set := range out.Rrsets {
		if strings.EqualFold(set.Name, fqdn) && set.Type == "TXT" {
			return unquoteAll(set.Rrdatas), time.Duration(set.Ttl) * time.Second, nil
		}
	}
	return nil, 0, nil
}

func (z *gcloudZone) putTXT(ctx context.Context, fqdn string, old []string, oldTTL time.Duration, values []string, ttl time.Duration) error {
	zone, err := z.zoneName(ctx)
	if err != nil {
		return err
	}
	change := &dns.Change{}
	if len(old) > 0 {
		change.Deletions = []*dns.ResourceRecordSet{{Name: fqdn, Type: "TXT", Ttl: int64(oldTTL / time.Second), Rrdatas: quoteAll(old)}}
	}
	if len(values) > 0 {
		change.Additions = []*dns.ResourceRecordSet{{Name: fqdn, Type: "TXT", Ttl: int64(ttl / time.Second), Rrdatas: quoteAll(values)}}
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := z.svc.Changes.Create(z.project, zone, change).Context(cctx).Do()
	if err != nil {
		return err
	}
	if out.Status == "done" {
		return nil
	}
	return waitDone(ctx, z.timeout, "Cloud DNS change "+out.Id, func(ctx context.Context) (bool, error) {
		got, err := z.svc.Changes.Get(z.project, zone, out.Id).Context(ctx).Do()
		if err != nil {
			return false, err
		}
		return got.Status == "done", nil
	})
}
