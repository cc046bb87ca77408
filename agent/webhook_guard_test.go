package agent

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestWebhookGuardRefusesOwnAPIAndMetadata(t *testing.T) {
	g := webhookGuard{controlHost: "pier.example.com", api: netip.MustParseAddrPort("127.0.0.1:7070")}
	const flag = "--allow-private-targets"
	tests := []struct {
		url, allow, refuse string
		private            bool
	}{
		{url: "ftp://example.com/x", refuse: "http:// or https://"},
		{url: "example.com/hook", refuse: "http:// or https://"},
		{url: "https://pier.example.com/v1/apps", refuse: "pier's own API"},
		{url: "http://127.0.0.1:7070/v1/tokens", refuse: "pier's own API"},
		{url: "http://localhost:7070/", refuse: "pier's own API"},
		{url: "http://169.254.169.254/latest/meta-data/", refuse: "link-local address, where cloud metadata services answer: refused unless the agent runs with " + flag},
		{url: "http://[fe80::1]:8080/", refuse: "link-local"},
		{url: "http://[fd00:ec2::254]/", refuse: "link-local"},
		{url: "http://0.0.0.0:9000/", refuse: "not an address"},
		{url: "http://0.1.2.3:9000/", refuse: "not an address"},
		{url: "http://255.255.255.255/", refuse: "not an address"},
		{url: "http://127.0.0.1:7071/hook", refuse: "loopback address, this host's own services: refused unless the agent runs with " + flag},
		{url: "http://localhost:7071/hook", refuse: "loopback"},
		{url: "http://[::1]:7071/hook", refuse: "loopback"},
		{url: "http://[::ffff:127.0.0.1]:7071/hook", refuse: "loopback"},
		{url: "http://10.0.0.5/hook", refuse: "private address, on the network behind this host: refused unless the agent runs with " + flag},
		{url: "http://172.16.3.4/hook", refuse: "private address"},
		{url: "http://192.168.1.1/hook", refuse: "private address"},
		{url: "http://100.64.0.1/hook", refuse: "private address"},
		{url: "http://[fd12:3456::1]/hook", refuse: "private address"},
		{url: "http://198.18.0.7/hook", refuse: "private address"},
		{url: "http://[fec0::1]/hook", refuse: "private address"},
		{url: "http://240.0.0.1/hook", refuse: "not an address"},
		// IPv6 addresses a gateway turns into IPv4 ones: NAT64 (RFC 6052,
		// 8215), 6to4 (RFC 3056) and the old IPv4-compatible form.
		{url: "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/", refuse: "reaches 169.254.169.254, a link-local address"},
		{url: "http://[64:ff9b::10.0.0.5]/hook", refuse: "reaches 10.0.0.5, a private address"},
		{url: "http://[64:ff9b::127.0.0.1]:7071/hook", refuse: "loopback"},
		{url: "http://[64:ff9b:1::a00:5]/hook", refuse: "private address"},
		{url: "http://[2002:a00:5::1]/hook", refuse: "reaches 10.0.0.5, a private address"},
		{url: "http://[::10.0.0.5]/hook", refuse: "reaches 10.0.0.5, a private address"},
		{url: "https://[64:ff9b::203.0.113.7]/hook", allow: "a public IPv4 address through NAT64, as an IPv6-only host reaches it"},
		{url: "https://[2002:cb00:7107::1]/hook", allow: "a public IPv4 address through 6to4"},
		{url: "http://169.254.169.254/", private: true, allow: "an admin's webhook with --allow-private"},
		{url: "http://127.0.0.1:7071/hook", private: true, allow: "an admin's webhook with --allow-private"},
		{url: "http://127.0.0.1:7070/v1/tokens", private: true, refuse: "pier's own API"},
		{url: "https://203.0.113.7/hook", allow: "a public address"},
		{url: "https://[2001:db8::1]/hook", allow: "a public address"},
	}
	for _, tt := range tests {
		_, err := g.checkURL(context.Background(), "webhook", tt.url, tt.private)
		switch {
		case tt.refuse != "" && (err == nil || !strings.Contains(err.Error(), tt.refuse)):
			t.Errorf("%s: %v, want an error saying %q", tt.url, err, tt.refuse)
		case tt.refuse != "" && !errors.Is(err, ErrInvalid):
			t.Errorf("%s: %v is not ErrInvalid (a 400)", tt.url, err)
		case tt.allow != "" && err != nil:
			t.Errorf("%s (%s): %v", tt.url, tt.allow, err)
		}
	}
}

// TestGuardAllowPrivateTargets: an agent run with --allow-private-targets
// lets every webhook and drain reach this host and the private network,
// but never its own API.
func TestGuardAllowPrivateTargets(t *testing.T) {
	g := webhookGuard{controlHost: "pier.example.com", api: netip.MustParseAddrPort("127.0.0.1:7070"), allowPrivate: true}
	for _, url := range []string{"http://127.0.0.1:7071/hook", "http://10.0.0.5/", "http://169.254.169.254/"} {
		if _, err := g.checkURL(context.Background(), "webhook", url, false); err != nil {
			t.Errorf("%s: %v", url, err)
		}
	}
	if _, err := g.checkURL(context.Background(), "webhook", "http://127.0.0.1:7070/v1/tokens", false); err == nil || !strings.Contains(err.Error(), "own API") {
		t.Errorf("the agent's own API: %v", err)
	}
}

// The check at dial time stands against DNS rebinding: a name that
// resolved elsewhere when the webhook was added is checked again.
func TestWebhookClientRefusesToDialMetadata(t *testing.T) {
	g := webhookGuard{api: netip.MustParseAddrPort("127.0.0.1:7070")}
	for _, url := range []string{"http://169.254.169.254:80/", "http://127.0.0.1:7070/v1/tokens", "http://127.0.0.1:7071/", "http://10.0.0.5:80/"} {
		resp, err := g.client(false).Post(url, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
			t.Errorf("POST %s went through", url)
		} else if !strings.Contains(err.Error(), "--allow-private-targets") && !strings.Contains(err.Error(), "own API") {
			t.Errorf("POST %s: %v, want the guard's refusal", url, err)
		}
	}
}
