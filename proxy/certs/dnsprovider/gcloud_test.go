package dnsprovider

import (
	"context"
	"strings"
	"testing"

	"github.com/pierhq/pier/proxy/certs/pebbletest"
)

// TestGCloudErrors: a managed zone that does not exist, a DNS name with no
// public zone in the project, and no credentials at all come back as
// errors that say so.
func TestGCloudErrors(t *testing.T) {
	c := pebbletest.StartCloudDNS(t, "pier-test", "pier-test-zone", "pier.test", nil)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", c.CredentialsFile)
	ctx := context.Background()
	for _, tc := range []struct{ zone, want string }{
		{"no-such-zone", "'no-such-zone' does not exist"},
		{"other.test", "no public Cloud DNS zone of project pier-test is for other.test."},
	} {
		p, err := New(ctx, Config{Provider: GCloud, Zone: tc.zone, Project: c.Project, Endpoint: c.URL})
		if err != nil {
			t.Fatal(err)
		}
		_, err = p.AppendRecords(ctx, "pier.test.", txt("_acme-challenge", "x"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("zone %s: %v, want %q", tc.zone, err, tc.want)
		}
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
	if _, err := New(ctx, Config{Provider: GCloud, Zone: "z", Project: "p", Endpoint: c.URL}); err == nil || !strings.Contains(err.Error(), "application default credentials") {
		t.Errorf("no credentials: %v", err)
	}
}
