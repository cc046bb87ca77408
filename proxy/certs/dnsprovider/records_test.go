package dnsprovider

import (
	"context"
	"slices"
	"testing"

	"github.com/pierhq/pier/proxy/certs/pebbletest"
)

// standIn is a cloud's DNS API as a test runs it (the clouds cannot be
// reached from here): a stand-in server the real SDK client talks to.
type standIn struct {
	conf  Config
	txt   func(fqdn string) []string
	calls func() []string
	// lookup, create and wait name the calls that find the zone by name,
	// make a change and ask whether it is done.
	lookup, create, wait string
	signed               func() bool
}

var standIns = map[string]func(t *testing.T) standIn{
	Route53: func(t *testing.T) standIn {
		route53Env(t)
		r := pebbletest.StartRoute53(t, "pier.test", nil)
		return standIn{
			conf: Config{Provider: Route53, Zone: "pier.test", Endpoint: r.URL},
			txt:  r.TXT, calls: r.Calls,
			lookup: "ListHostedZonesByName", create: "ChangeResourceRecordSets", wait: "GetChange",
			signed: func() bool { return slices.Equal(r.AccessKeys(), []string{"AKIDPIERTEST"}) },
		}
	},
	GCloud: func(t *testing.T) standIn {
		c := pebbletest.StartCloudDNS(t, "pier-test", "pier-test-zone", "pier.test", nil)
		t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", c.CredentialsFile)
		return standIn{
			conf: Config{Provider: GCloud, Zone: "pier.test", Project: c.Project, Endpoint: c.URL},
			txt:  c.TXT, calls: c.Calls,
			lookup: "managedZones.list", create: "changes.create", wait: "changes.get",
			signed: c.Authorized,
		}
	},
}

// TestRecords, for each provider against a stand-in of its cloud's API
// reached by the real SDK client: the zone is found by name (the public
// one, not the private one of the same name), two challenges at one name
// both stay until each is deleted, every change is waited for until the
// cloud reports it done, and requests carry the default credentials.
func TestRecords(t *testing.T) {
	for _, name := range Names {
		t.Run(name, func(t *testing.T) {
			s := standIns[name](t)
			ctx := context.Background()
			p, err := New(ctx, s.conf)
			if err != nil {
				t.Fatal(err)
			}
			const fqdn = "_acme-challenge.apps.pier.test."
			steps := []struct {
				del   bool
				value string
				want  []string
			}{
				{false, "one", []string{"one"}},
				{false, "two", []string{"one", "two"}},
				{false, "two", []string{"one", "two"}}, // again: no change
				{true, "one", []string{"two"}},
				{true, "two", nil},
			}
			for _, st := range steps {
				op := p.AppendRecords
				if st.del {
					op = p.DeleteRecords
				}
				if _, err := op(ctx, "pier.test.", txt("_acme-challenge.apps", st.value)); err != nil {
					t.Fatalf("delete=%v %s: %v", st.del, st.value, err)
				}
				if got := s.txt(fqdn); !slices.Equal(got, st.want) {
					t.Errorf("after delete=%v %s: %q, want %q", st.del, st.value, got, st.want)
				}
			}
			calls := s.calls()
			if calls[0] != s.lookup || count(calls, s.lookup) != 1 {
				t.Errorf("the zone was not looked up once, first: %v", calls)
			}
			// Four changes, each reported pending first, then done.
			if changes, waits := count(calls, s.create), count(calls, s.wait); changes != 4 || waits != 8 {
				t.Errorf("%d changes and %d waits, want 4 and 8: %v", changes, waits, calls)
			}
			if !s.signed() {
				t.Error("requests did not carry the default credentials")
			}
		})
	}
}
