package dnsprovider

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/route53"
	"github.com/aws/aws-sdk-go-v2/service/route53/types"
)

// route53Zone sets records in an Amazon Route 53 hosted zone, with the
// credentials of the SDK's default chain (environment, shared files, the
// EC2 instance profile). A change is waited for until Route 53 reports it
// INSYNC: on every one of the zone's name servers.
type route53Zone struct {
	client  *route53.Client
	conf    Config
	timeout time.Duration

	mu sync.Mutex
	id string // the hosted zone's id, once known
}

func newRoute53(ctx context.Context, c Config) (*route53Zone, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading AWS configuration: %w", err)
	}
	// AWS_ENDPOINT_URL is for the S3 of the backups (Cloud Storage, a
	// MinIO): Route 53 takes only its own, AWS_ENDPOINT_URL_ROUTE_53.
	cfg.BaseEndpoint = nil
	if cfg.Region == "" {
		cfg.Region = "us-east-1" // Route 53 is global; the SDK wants a region
	}
	client := route53.NewFromConfig(cfg, func(o *route53.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	})
	z := &route53Zone{client: client, conf: c, timeout: c.ChangeTimeout}
	if c.ZoneName() == "" {
		z.id = strings.TrimPrefix(c.Zone, "/hostedzone/")
	}
	return z, nil
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
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := z.client.ListHostedZonesByName(ctx, &route53.ListHostedZonesByNameInput{DNSName: aws.String(name), MaxItems: aws.Int32(10)})
	if err != nil {
		return "", fmt.Errorf("finding the Route 53 hosted zone %s: %w", name, err)
	}
	for _, hz := range out.HostedZones {
		if strings.EqualFold(aws.ToString(hz.Name), name) && (hz.Config == nil || !hz.Config.PrivateZone) {
			z.id = strings.TrimPrefix(aws.ToString(hz.Id), "/hostedzone/")
			return z.id, nil
		}
	}
	return "", fmt.Errorf("no public Route 53 hosted zone is named %s: give its id instead, or create it", name)
}

func (z *route53Zone) getTXT(ctx context.Context, fqdn string) ([]string, time.Duration, error) {
	id, err := z.zoneID(ctx)
	if err != nil {
		return nil, 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := z.client.ListResourceRecordSets(ctx, &route53.ListResourceRecordSetsInput{
		HostedZoneId:    aws.String(id),
		StartRecordName: aws.String(fqdn),
		StartRecordType: types.RRTypeTxt,
		MaxItems:        aws.Int32(1),
	})
	if err != nil {
		return nil, 0, err
	}
	for _, set := range out.ResourceRecordSets {
		if !strings.EqualFold(aws.ToString(set.Name), fqdn) || set.Type != types.RRTypeTxt {
			continue
		}
		var vs []string
		for _, r := range set.ResourceRecords {
			vs = append(vs, unquoteTXT(aws.ToString(r.Value)))
		}
		return vs, time.Duration(aws.ToInt64(set.TTL)) * time.Second, nil
	}
	return nil, 0, nil
}

func (z *route53Zone) putTXT(ctx context.Context, fqdn string, old []string, oldTTL time.Duration, values []string, ttl time.Duration) error {
	id, err := z.zoneID(ctx)
	if err != nil {
		return err
	}
	change := types.Change{Action: types.ChangeActionUpsert, ResourceRecordSet: txtSet(fqdn, values, ttl)}
	if len(values) == 0 {
		change = types.Change{Action: types.ChangeActionDelete, ResourceRecordSet: txtSet(fqdn, old, oldTTL)}
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := z.client.ChangeResourceRecordSets(cctx, &route53.ChangeResourceRecordSetsInput{
		HostedZoneId: aws.String(id),
		ChangeBatch:  &types.ChangeBatch{Comment: aws.String("pier: ACME DNS-01 challenge"), Changes: []types.Change{change}},
	})
	if err != nil {
		return err
	}
	if out.ChangeInfo == nil || out.ChangeInfo.Id == nil {
		return errors.New("Route 53 accepted the change but gave no change id to wait for")
	}
	changeID := aws.ToString(out.ChangeInfo.Id)
	if out.ChangeInfo.Status == types.ChangeStatusInsync {
		return nil
	}
	return waitDone(ctx, z.timeout, "Route 53 change "+changeID, func(ctx context.Context) (bool, error) {
		got, err := z.client.GetChange(ctx, &route53.GetChangeInput{Id: aws.String(changeID)})
		if err != nil {
			return false, err
		}
		return got.ChangeInfo != nil && got.ChangeInfo.Status == types.ChangeStatusInsync, nil
	})
}

func txtSet(fqdn string, values []string, ttl time.Duration) *types.ResourceRecordSet {
	set := &types.ResourceRecordSet{Name: aws.String(fqdn), Type: types.RRTypeTxt, TTL: aws.Int64(int64(ttl / time.Second))}
	for _, q := range quoteAll(values) {
		set.ResourceRecords = append(set.ResourceRecords, types.ResourceRecord{Value: aws.String(q)})
	}
	return set
}
