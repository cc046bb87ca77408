package agent

import (
	"net"
	"net/netip"
	"strconv"

	"github.com/pierhq/pier/api"
)

// startNotifications starts what tells people about events: the crash
// watcher, which turns crashes into events, the webhook sender and the log
// drains; then
// records that the agent started (or was upgraded).
func (a *Agent) startNotifications() {
	cw := &crashWatcher{dp: a.deploy, every: crashTick}
	if a.cfg.Scheduler == "nomad" {
		cw.every = crashTickNomad
	}
	a.wg.Add(3)
	go func() { defer a.wg.Done(); cw.run(a.ctx) }()
	go func() { defer a.wg.Done(); a.webhooks.run(a.ctx) }()
	go func() { defer a.wg.Done(); a.sentryReleases.run(a.ctx) }()
	if a.certs != nil {
		cw := &certExpiryWatcher{apps: a.appsHosts, status: a.certs.Status, events: a.events}
		a.wg.Add(1)
		go func() { defer a.wg.Done(); cw.run(a.ctx) }()
	}
	a.drains.startAll()
	a.recordStart()
}

// recordStart records agent.started, and agent.upgraded when the agent
// that started before this one had another version.
func (a *Agent) recordStart() {
	version := a.cfg.Version
	last, err := a.store.EventsAfter("", 0, 0)
	if err == nil {
		for i := len(last) - 1; i >= 0; i-- {
			if last[i].Type != api.EventAgentStarted {
				continue
			}
			if prev := last[i].Data["version"]; prev != "" && prev != version {
				a.events.addData("", api.EventAgentUpgraded, "", api.EventData{"version": version, "from": prev},
					"pier agent upgraded from %s to %s", prev, version)
			}
			break
		}
	}
	a.events.addData("", api.EventAgentStarted, "", api.EventData{"version": version}, "pier agent %s started", version)
}

// newWebhookGuard is where this agent's webhooks may deliver: not to its
// own API.
func (a *Agent) newWebhookGuard() webhookGuard {
	g := webhookGuard{controlHost: a.cfg.controlHost(), allowPrivate: a.cfg.AllowPrivateTargets}
	if ap, err := netip.ParseAddrPort(a.cfg.APIAddr); err == nil {
		g.api = ap
	} else if host, port, err := net.SplitHostPort(a.cfg.APIAddr); err == nil {
		p, _ := strconv.Atoi(port)
		if host == "" {
			g.api = netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(p))
		} else if ips, err := net.LookupIP(host); err == nil && len(ips) > 0 {
			ip, _ := netip.AddrFromSlice(ips[0])
			g.api = netip.AddrPortFrom(ip.Unmap(), uint16(p))
		}
	}
	return g
}
