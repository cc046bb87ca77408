package dnsprovider

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/libdns/libdns"

	"github.com/pierhq/pier/proxy/certs/pebbletest"
)

// route53Env gives the AWS credentials chain static credentials, as the
// instance profile would on EC2.
func route53Env(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDPIERTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret-pier-test")
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

func txt(name, value string) []libdns.Record {
	return []libdns.Record{libdns.RR{Type: "TXT", Name: name, Data: value}}
}

// TestRoute53Endpoint: the backups' AWS_ENDPOINT_URL (an S3 elsewhere)
// is not Route 53's; AWS_ENDPOINT_URL_ROUTE_53 and Config.Endpoint are.
func TestRoute53Endpoint(t *testing.T) {
	route53Env(t)
	t.Setenv("AWS_ENDPOINT_URL", "https://storage.googleapis.com")
	endpoint := func(c Config) string {
		t.Helper()
		z, err := newRoute53(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		return z.endpoint
	}
	if got := endpoint(Config{Zone: "Z1"}); got != "https://route53.amazonaws.com" {
		t.Errorf("with AWS_ENDPOINT_URL alone Route 53 goes to %q, want its own", got)
	}
	if got := endpoint(Config{Zone: "Z1", Endpoint: "https://r53.internal"}); got != "https://r53.internal" {
		t.Errorf("with an endpoint given Route 53 goes to %q", got)
	}
	t.Setenv("AWS_ENDPOINT_URL_ROUTE_53", "https://route53.vpce.internal")
	if got := endpoint(Config{Zone: "Z1"}); got != "https://route53.vpce.internal" {
		t.Errorf("with AWS_ENDPOINT_URL_ROUTE_53 Route 53 goes to %q", got)
	}
}

func count(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

// TestRoute53Errors: a zone id that does not exist, a zone name with no
// public zone, and a refused change come back as errors that say so.
func TestRoute53Errors(t *testing.T) {
	route53Env(t)
	r53 := pebbletest.StartRoute53(t, "pier.test", nil)
	ctx := context.Background()
	for _, tc := range []struct{ zone, want string }{
		{"ZNOSUCHZONE", "NoSuchHostedZone"},
		{"other.test", "no public Route 53 hosted zone is named other.test."},
	} {
		p, err := New(ctx, Config{Provider: Route53, Zone: tc.zone, Endpoint: r53.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.AppendRecords(ctx, "pier.test.", txt("_acme-challenge", "x"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("zone %s: %v, want %q", tc.zone, err, tc.want)
		}
	}
	p, err := New(ctx, Config{Provider: Route53, Zone: r53.ZoneID, Endpoint: r53.URL, ChangeTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	r53.FailChanges("AccessDenied")
	if _, err := p.AppendRecords(ctx, "pier.test.", txt("_acme-challenge", "x")); err == nil || !strings.Contains(err.Error(), "AccessDenied") {
		t.Errorf("a refused change: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Provider: "cloudflare", Zone: "x"}, `unknown DNS provider "cloudflare": choose one of route53, gcloud`},
		{Config{Provider: Route53}, "no zone"},
		{Config{Provider: GCloud, Zone: "example-com"}, "no project"},
		{Config{Provider: GCloud, Zone: "example-com", Project: "p"}, ""},
	} {
		err := tc.c.Check()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.c, err, tc.want)
		}
	}
}

func TestQuoteTXT(t *testing.T) {
	long := strings.Repeat("a", 300)
	for _, v := range []string{"abc", `with "quotes" and \`, long} {
		if got := unquoteTXT(quoteTXT(v)); got != v {
			t.Errorf("%q came back as %q", v, got)
		}
	}
	if q := quoteTXT(long); !strings.HasPrefix(q, `"`+strings.Repeat("a", 255)+`" "`) {
		t.Errorf("a long value is not split in strings of 255: %.40q", q)
	}
}
