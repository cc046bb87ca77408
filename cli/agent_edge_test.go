package cli

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestAgentEdgeFlags(t *testing.T) {
	got := captureAgent(t)
	t.Setenv("PIER_MAX_CONNS", "")
	t.Setenv("PIER_TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7,::ffff:172.16.0.1")
	mustPier(t, "agent", "--max-conns", "500")
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"), netip.MustParsePrefix("172.16.0.1/32")}
	if !reflect.DeepEqual(got.TrustedProxies, want) || got.MaxConns != 500 {
		t.Errorf("trusted proxies %v, max conns %d; want %v and 500", got.TrustedProxies, got.MaxConns, want)
	}
	t.Setenv("PIER_TRUSTED_PROXIES", "")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--trusted-proxies", "10.0.0.0/33"}, "is not a CIDR"},
		{[]string{"agent", "--trusted-proxies", "lb.example.com"}, "is not a CIDR"},
		{[]string{"agent", "--max-conns", "0"}, "at least 1"},
	} {
		if _, _, err := pier(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("pier %v: error %v, want one saying %q", c.args, err, c.want)
		}
	}
}
