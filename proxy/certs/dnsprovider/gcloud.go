package dnsprovider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// gcloudZone sets records in a Google Cloud DNS managed zone, with the
// application default credentials (GOOGLE_APPLICATION_CREDENTIALS, the
// gcloud user's, or the VM's service account; golang.org/x/oauth2/google).
// A change is waited for until Cloud DNS reports it done.
//
// It speaks the Cloud DNS JSON API itself, four calls of it: Google's
// generated client (google.golang.org/api/dns/v1) would add 4 MB to
// pier's binary for them.
type gcloudZone struct {
	client  *http.Client
	base    string // https://dns.googleapis.com/dns/v1/projects/PROJECT/managedZones
	project string
	conf    Config
	timeout time.Duration

	mu   sync.Mutex
	name string // the managed zone's name, once known
}

const gcloudScope = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"

func newGCloud(ctx context.Context, c Config) (*gcloudZone, error) {
	creds, err := google.FindDefaultCredentials(ctx, gcloudScope)
	if err != nil {
		return nil, fmt.Errorf("Google Cloud DNS client (application default credentials: the VM's service account, or GOOGLE_APPLICATION_CREDENTIALS): %w", err)
	}
	root := "https://dns.googleapis.com/"
	if c.Endpoint != "" {
		root = strings.TrimSuffix(c.Endpoint, "/") + "/"
	}
	tr := newTransport()
	// The token source uses the same bounded transport for its own calls.
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr, Timeout: callTimeout})
	z := &gcloudZone{
		client:  oauth2.NewClient(tctx, creds.TokenSource),
		base:    root + "dns/v1/projects/" + url.PathEscape(c.Project) + "/managedZones",
		project: c.Project, conf: c, timeout: c.ChangeTimeout,
	}
	if c.ZoneName() == "" {
		z.name = c.Zone
	}
	return z, nil
}

// call sends a request to the API and decodes its JSON answer into out;
// an answer that is not a success is an error with the API's message.
func (z *gcloudZone) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	u := z.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	status, b, err := exchange(z.client, req, "Cloud DNS")
	if err != nil {
		return err
	}
	if status/100 != 2 {
		var e struct {
			Error struct {
				Message string `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
			e.Error.Message = http.StatusText(status)
		}
		return fmt.Errorf("Cloud DNS answered %d: %s", status, e.Error.Message)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("Cloud DNS: reading its answer: %w", err)
		}
	}
	return nil
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
	var out struct {
		ManagedZones []struct {
			Name, DNSName string
			Visibility    string
		} `json:"managedZones"`
	}
	if err := z.call(ctx, http.MethodGet, "", url.Values{"dnsName": {dnsName}}, nil, &out); err != nil {
		return "", fmt.Errorf("finding the Cloud DNS zone %s in project %s: %w", dnsName, z.project, err)
	}
	for _, mz := range out.ManagedZones {
		if strings.EqualFold(mz.DNSName, dnsName) && (mz.Visibility == "" || mz.Visibility == "public") {
			z.name = mz.Name
			return z.name, nil
		}
	}
	return "", fmt.Errorf("no public Cloud DNS zone of project %s is for %s: give the managed zone's name instead, or create it", z.project, dnsName)
}

// gcloudSet is a resource record set as the API writes it.
type gcloudSet struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	TTL     int64    `json:"ttl"`
	Rrdatas []string `json:"rrdatas"`
}

func (z *gcloudZone) getTXT(ctx context.Context, fqdn string) ([]string, time.Duration, error) {
	zone, err := z.zoneName(ctx)
	if err != nil {
		return nil, 0, err
	}
	var out struct {
		Rrsets []gcloudSet `json:"rrsets"`
	}
	if err := z.call(ctx, http.MethodGet, "/"+url.PathEscape(zone)+"/rrsets", url.Values{"name": {fqdn}, "type": {"TXT"}}, nil, &out); err != nil {
		return nil, 0, err
	}
	for _, set := range out.Rrsets {
		if strings.EqualFold(set.Name, fqdn) && set.Type == "TXT" {
			return unquoteAll(set.Rrdatas), time.Duration(set.TTL) * time.Second, nil
		}
	}
	return nil, 0, nil
}

type gcloudChange struct {
	ID        string      `json:"id,omitempty"`
	Status    string      `json:"status,omitempty"`
	Additions []gcloudSet `json:"additions,omitempty"`
	Deletions []gcloudSet `json:"deletions,omitempty"`
}

func (z *gcloudZone) putTXT(ctx context.Context, fqdn string, old []string, oldTTL time.Duration, values []string, ttl time.Duration) error {
	zone, err := z.zoneName(ctx)
	if err != nil {
		return err
	}
	var change gcloudChange
	if len(old) > 0 {
		change.Deletions = []gcloudSet{{Name: fqdn, Type: "TXT", TTL: int64(oldTTL / time.Second), Rrdatas: quoteAll(old)}}
	}
	if len(values) > 0 {
		change.Additions = []gcloudSet{{Name: fqdn, Type: "TXT", TTL: int64(ttl / time.Second), Rrdatas: quoteAll(values)}}
	}
	changes := "/" + url.PathEscape(zone) + "/changes"
	var out gcloudChange
	if err := z.call(ctx, http.MethodPost, changes, nil, change, &out); err != nil {
		return err
	}
	if out.Status == "done" {
		return nil
	}
	return waitDone(ctx, z.timeout, "Cloud DNS change "+out.ID, func(ctx context.Context) (bool, error) {
		var got gcloudChange
		if err := z.call(ctx, http.MethodGet, changes+"/"+url.PathEscape(out.ID), nil, nil, &got); err != nil {
			return false, err
		}
		return got.Status == "done", nil
	})
}
