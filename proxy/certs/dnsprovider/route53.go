package dnsprovider

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// route53Zone sets records in an Amazon Route 53 hosted zone. Its
// credentials are the AWS tools' (AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY, the shared credentials file, else the EC2
// instance profile through IMDSv2: the chain pier's S3 backups use), and
// its requests are signed with AWS's own Signature V4 signer. A change is
// waited for until Route 53 reports it INSYNC: on every one of the zone's
// name servers.
//
// It speaks Route 53's REST API itself, four calls of it: AWS's SDK for
// Route 53 and its configuration loader would add 9 MB to pier's binary,
// 6 MB to every agent's resident memory and 18 ms to the start of every
// pier command.
type route53Zone struct {
	client   *http.Client
	endpoint string // https://route53.amazonaws.com
	creds    *credentials.Credentials
	signer   *v4.Signer
	conf     Config
	timeout  time.Duration

	mu sync.Mutex
	id string // the hosted zone's id, once known
}

const route53API = "/2013-04-01"

func newRoute53(_ context.Context, c Config) (*route53Zone, error) {
	// AWS_ENDPOINT_URL is for the S3 of the backups (Cloud Storage, a
	// MinIO): Route 53 takes only its own, AWS_ENDPOINT_URL_ROUTE_53.
	endpoint := "https://route53.amazonaws.com"
	if e := os.Getenv("AWS_ENDPOINT_URL_ROUTE_53"); e != "" {
		endpoint = e
	}
	if c.Endpoint != "" {
		endpoint = c.Endpoint
	}
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("the Route 53 endpoint %q is not a URL: write https://host[:port]", endpoint)
	}
	creds := credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{},
		&credentials.IAM{Client: &http.Client{Timeout: 10 * time.Second}},
	})
	z := &route53Zone{client: &http.Client{Transport: newTransport()}, endpoint: strings.TrimSuffix(endpoint, "/"),
		creds: creds, signer: v4.NewSigner(), conf: c, timeout: c.ChangeTimeout}
	if c.ZoneName() == "" {
		z.id = strings.TrimPrefix(c.Zone, "/hostedzone/")
	}
	return z, nil
}

// route53Error is Route 53's answer to a request it refused.
type route53Error struct {
	Status  int
	Code    string `xml:"Error>Code"`
	Message string `xml:"Error>Message"`
}

func (e *route53Error) Error() string {
	return fmt.Sprintf("Route 53 answered %d %s: %s", e.Status, e.Code, e.Message)
}

// call sends a signed request and decodes the XML answer into out.
func (z *route53Zone) call(ctx context.Context, method, path string, query url.Values, in, out any) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var body []byte
	if in != nil {
		b, err := xml.Marshal(in)
		if err != nil {
			return err
		}
		body = append([]byte(xml.Header), b...)
	}
	u := z.endpoint + route53API + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/xml")
	}
	v, err := z.creds.GetWithContext(&credentials.CredContext{Client: z.client})
	if err != nil || v.AccessKeyID == "" {
		return fmt.Errorf("no AWS credentials for Route 53: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a credentials file, or give the instance a profile (%v)", err)
	}
	sum := sha256.Sum256(body)
	cr := aws.Credentials{AccessKeyID: v.AccessKeyID, SecretAccessKey: v.SecretAccessKey, SessionToken: v.SessionToken}
	if err := z.signer.SignHTTP(ctx, cr, req, hex.EncodeToString(sum[:]), "route53", "us-east-1", time.Now()); err != nil {
		return err
	}
	status, b, err := exchange(z.client, req, "Route 53")
	if err != nil {
		return err
	}
	if status/100 != 2 {
		e := &route53Error{Status: status}
		if xml.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Message = http.StatusText(status), strings.TrimSpace(string(b))
		}
		return e
	}
	if out != nil {
		if err := xml.Unmarshal(b, out); err != nil {
			return fmt.Errorf("Route 53: reading its answer: %w", err)
		}
	}
	return nil
}

// zoneID is the hosted zone's id: given, or found by its name (a public
// zone's, when a private one has the same name).
func (z *route53Zone) zoneID(ctx context.Context) (string, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.id != "" {
		return z.id, nil
	}
	name := z.conf.ZoneName() + "."
	var out struct {
		Zones []struct {
			ID      string `xml:"Id"`
			Name    string `xml:"Name"`
			Private bool   `xml:"Config>PrivateZone"`
		} `xml:"HostedZones>HostedZone"`
	}
	if err := z.call(ctx, http.MethodGet, "/hostedzonesbyname", url.Values{"dnsname": {name}, "maxitems": {"10"}}, nil, &out); err != nil {
		return "", fmt.Errorf("finding the Route 53 hosted zone %s: %w", name, err)
	}
	for _, hz := range out.Zones {
		if strings.EqualFold(hz.Name, name) && !hz.Private {
			z.id = strings.TrimPrefix(hz.ID, "/hostedzone/")
			return z.id, nil
		}
	}
	return "", fmt.Errorf("no public Route 53 hosted zone is named %s: give its id instead, or create it", name)
}

// route53Set is a resource record set as Route 53 writes it.
type route53Set struct {
	Name    string          `xml:"Name"`
	Type    string          `xml:"Type"`
	TTL     int64           `xml:"TTL"`
	Records []route53Record `xml:"ResourceRecords>ResourceRecord"`
}

type route53Record struct {
	Value string `xml:"Value"`
}

func route53Records(values []string) []route53Record {
	rs := make([]route53Record, len(values))
	for i, v := range values {
		rs[i].Value = v
	}
	return rs
}

func (z *route53Zone) getTXT(ctx context.Context, fqdn string) ([]string, time.Duration, error) {
	id, err := z.zoneID(ctx)
	if err != nil {
		return nil, 0, err
	}
	var out struct {
		Sets []route53Set `xml:"ResourceRecordSets>ResourceRecordSet"`
	}
	q := url.Values{"name": {fqdn}, "type": {"TXT"}, "maxitems": {"1"}}
	if err := z.call(ctx, http.MethodGet, "/hostedzone/"+url.PathEscape(id)+"/rrset", q, nil, &out); err != nil {
		return nil, 0, err
	}
	for _, set := range out.Sets {
		if strings.EqualFold(set.Name, fqdn) && set.Type == "TXT" {
			var vs []string
			for _, r := range set.Records {
				vs = append(vs, unquoteTXT(r.Value))
			}
			return vs, time.Duration(set.TTL) * time.Second, nil
		}
	}
	return nil, 0, nil
}

// route53ChangeInfo is the state of a change.
type route53ChangeInfo struct {
	ID     string `xml:"ChangeInfo>Id"`
	Status string `xml:"ChangeInfo>Status"`
}

func (z *route53Zone) putTXT(ctx context.Context, fqdn string, old []string, oldTTL time.Duration, values []string, ttl time.Duration) error {
	id, err := z.zoneID(ctx)
	if err != nil {
		return err
	}
	action, set := "UPSERT", route53Set{Name: fqdn, Type: "TXT", TTL: int64(ttl / time.Second), Records: route53Records(quoteAll(values))}
	if len(values) == 0 {
		action, set = "DELETE", route53Set{Name: fqdn, Type: "TXT", TTL: int64(oldTTL / time.Second), Records: route53Records(quoteAll(old))}
	}
	type change struct {
		Action string     `xml:"Action"`
		Set    route53Set `xml:"ResourceRecordSet"`
	}
	in := struct {
		XMLName xml.Name `xml:"https://route53.amazonaws.com/doc/2013-04-01/ ChangeResourceRecordSetsRequest"`
		Comment string   `xml:"ChangeBatch>Comment"`
		Changes []change `xml:"ChangeBatch>Changes>Change"`
	}{Comment: "pier: ACME DNS-01 challenge", Changes: []change{{action, set}}}
	var out route53ChangeInfo
	if err := z.call(ctx, http.MethodPost, "/hostedzone/"+url.PathEscape(id)+"/rrset/", nil, in, &out); err != nil {
		return err
	}
	if out.ID == "" {
		return errors.New("Route 53 accepted the change but gave no change id to wait for")
	}
	if out.Status == "INSYNC" {
		return nil
	}
	changeID := strings.TrimPrefix(out.ID, "/change/")
	return waitDone(ctx, z.timeout, "Route 53 change "+changeID, func(ctx context.Context) (bool, error) {
		var got route53ChangeInfo
		if err := z.call(ctx, http.MethodGet, "/change/"+url.PathEscape(changeID), nil, nil, &got); err != nil {
			return false, err
		}
		return got.Status == "INSYNC", nil
	})
}
