package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Where webhook deliveries may go. A webhook's URL is checked when it is
// added and again at every dial (DNS may answer differently later: a name
// that pointed at a public address when it was added must not reach the
// cloud's metadata service at delivery time).
//
// The same rules hold for log drains and for the Sentry API an app names.
//
// Never: the agent's own API (by its control host name, or its address and
// port). Only when the agent runs with --allow-private-targets (or for a
// webhook an admin added with --allow-private): this host's own services
// (loopback), the network behind it (private addresses: RFC 1918, fc00::/7,
// 100.64.0.0/10 and the others in privatePrefixes) and link-local addresses, which hold the cloud metadata
// services (169.254.169.254, fe80::/10, fd00:ec2::254). Else a deploy
// token could make the agent send requests to a database's HTTP port, a
// cloud's metadata service or an internal admin page. An IPv6 address that
// a gateway turns into an IPv4 one (NAT64, 6to4) is checked as that IPv4
// address: on an IPv6-only host behind NAT64, 64:ff9b::a9fe:a9fe is the
// metadata service.

// webhookDialTimeout bounds a delivery's connect; webhookTimeout the whole
// delivery, answer included.
const (
	webhookDialTimeout = 10 * time.Second
	webhookTimeout     = 15 * time.Second
)

type webhookGuard struct {
	controlHost  string
	api          netip.AddrPort // the API's listening address; 0.0.0.0 or :: when it listens on all
	allowPrivate bool           // --allow-private-targets: loopback, private and link-local targets too
}

// awsMetadataV6 is EC2's metadata service over IPv6.
var awsMetadataV6 = netip.MustParseAddr("fd00:ec2::254")

// checkURL validates a webhook's (or an HTTPS drain's) URL as added:
// scheme, host, and where the host's name resolves now. what names it in
// errors: "webhook", "log drain".
func (g webhookGuard) checkURL(ctx context.Context, what, raw string, allowPrivate bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, invalidf("%s URL must be an http:// or https:// URL with a host, such as https://example.com/hooks/pier", what)
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == g.controlHost || strings.HasSuffix(host, "."+g.controlHost) {
		return nil, invalidf("%s URL points at pier's own API (%s): give a receiver elsewhere", what, host)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		ips, err := net.DefaultResolver.LookupNetIP(rctx, "ip", host)
		if err != nil || len(ips) == 0 {
			return nil, invalidf("%s host %s does not resolve: check the URL", what, host)
		}
		addrs = ips
	}
	for _, ip := range addrs {
		ap, err := netip.ParseAddrPort(net.JoinHostPort(ip.Unmap().String(), port))
		if err != nil {
			return nil, invalidf("%s URL has a bad port %q", what, port)
		}
		if err := g.checkAddr(ap, allowPrivate); err != nil {
			return nil, invalidf("%s URL: %v", what, err)
		}
	}
	return u, nil
}

// checkAddr tells whether a delivery may connect to ap.
func (g webhookGuard) checkAddr(ap netip.AddrPort, allowPrivate bool) error {
	ip := ap.Addr().Unmap()
	what := ip.String() + " is"
	if v4, ok := embeddedIPv4(ip); ok {
		// Checked as the IPv4 address a gateway sends it to.
		what, ip = fmt.Sprintf("%s reaches %s,", ip, v4), v4
	}
	if ip.IsUnspecified() || ip.IsMulticast() || (ip.Is4() && (ip.As4()[0] == 0 || ip.As4()[0] >= 240)) {
		return fmt.Errorf("%s not an address a receiver can have", what)
	}
	if g.isAPI(ip, ap.Port()) {
		return fmt.Errorf("%s is pier's own API: give a receiver elsewhere", ap)
	}
	if allowPrivate || g.allowPrivate {
		return nil
	}
	if kind := privateKind(ip); kind != "" {
		return fmt.Errorf("%s %s: refused unless the agent runs with --allow-private-targets", what, kind)
	}
	return nil
}

// Addresses private in all but name: carrier-grade NAT's (RFC 6598), the
// benchmarking range some networks use inside (RFC 2544), IPv6 site-local
// (deprecated, still routed on some networks) and NAT64's local-use prefix
// (RFC 8215), which reaches IPv4 networks of the operator's choosing.
var privatePrefixes = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("fec0::/10"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
}

// IPv6 prefixes whose addresses carry an IPv4 address that a gateway
// sends them to: NAT64's well-known prefix (RFC 6052), 6to4 (RFC 3056) and
// IPv4-compatible addresses (deprecated; ::/96).
var (
	nat64Prefix      = netip.MustParsePrefix("64:ff9b::/96")
	sixToFourPrefix  = netip.MustParsePrefix("2002::/16")
	v4CompatibPrefix = netip.MustParsePrefix("::/96")
)

// embeddedIPv4 is the IPv4 address an IPv6 address of a translation prefix
// reaches.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFourPrefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case v4CompatibPrefix.Contains(ip) && !ip.IsUnspecified() && !ip.IsLoopback():
		return netip.AddrFrom4([4]byte(b[12:16])), true
	}
	return netip.Addr{}, false
}

// privateKind says what kind of address ip is when it is not on the public
// internet, "" when it is.
func privateKind(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "a loopback address, this host's own services"
	case ip.IsLinkLocalUnicast() || ip == awsMetadataV6:
		return "a link-local address, where cloud metadata services answer"
	case ip.IsPrivate() || slices.ContainsFunc(privatePrefixes, func(p netip.Prefix) bool { return p.Contains(ip) }):
		return "a private address, on the network behind this host"
	}
	return ""
}

// isAPI reports whether ip:port reaches the agent's API.
func (g webhookGuard) isAPI(ip netip.Addr, port uint16) bool {
	if !g.api.IsValid() || port != g.api.Port() {
		return false
	}
	apiIP := g.api.Addr().Unmap()
	switch {
	case apiIP == ip:
		return true
	case apiIP.IsUnspecified():
		return ip.IsLoopback() || isLocalAddr(ip)
	case apiIP.IsLoopback():
		return ip.IsLoopback()
	}
	return false
}

// isLocalAddr reports whether ip is an address of this host.
func isLocalAddr(ip netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == ip {
			return true
		}
	}
	return false
}

// client returns the HTTP client deliveries use: it dials only addresses
// checkAddr allows, follows no redirect, uses no proxy from the
// environment, and gives up after webhookTimeout.
func (g webhookGuard) client(allowPrivate bool) *http.Client {
	d := &net.Dialer{
		Timeout: webhookDialTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("dialing %s: %w", address, err)
			}
			return g.checkAddr(ap, allowPrivate)
		},
	}
	return &http.Client{
		Timeout: webhookTimeout,
		Transport: &http.Transport{
			DialContext:           d.DialContext,
			TLSHandshakeTimeout:   webhookDialTimeout,
			ResponseHeaderTimeout: webhookTimeout,
			MaxIdleConnsPerHost:   2,
			IdleConnTimeout:       time.Minute,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}
