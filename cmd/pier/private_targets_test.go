package main

import (
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

// allowPrivateTargets is the agent setting of tests whose webhook, drain or
// Sentry receivers listen on 127.0.0.1: a production agent refuses them.
const allowPrivateTargets = "PIER_ALLOW_PRIVATE_TARGETS=true"

// TestPrivateTargetsRefused: a deploy token cannot make the agent send
// requests to this host's own services or the private network: webhooks
// and drains at loopback, private and link-local addresses are refused,
// naming the setting that allows them, and nothing is stored. A deploy
// token may not lift that for its own webhook. An agent started with
// --allow-private-targets delivers to a receiver on 127.0.0.1.
func TestPrivateTargetsRefused(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	const app = "fenced"
	a.mustPier("apps", "create", app)
	rcv := newReceiver(t, "whsec_private-targets-secret")
	var ci api.Token
	mustJSON(t, a.mustPier("tokens", "create", "--json", "--role", "deploy", "--app", app, "ci"), &ci)
	admin := a.token
	a.token = ci.Secret
	defer func() { a.token = admin }()

	for _, c := range []struct{ args []string }{
		{[]string{"webhooks", "add", "-a", app, "--url", "http://" + rcv.addr + "/hook"}},
		{[]string{"webhooks", "add", "-a", app, "--url", "http://localhost:" + portOfAddr(rcv.addr) + "/hook"}},
		{[]string{"webhooks", "add", "-a", app, "--url", "http://10.1.2.3/hook"}},
		{[]string{"webhooks", "add", "-a", app, "--url", "http://[fd12:3456::1]/hook"}},
		{[]string{"webhooks", "add", "-a", app, "--url", "http://169.254.169.254/latest/meta-data"}},
		{[]string{"drains", "add", "-a", app, "syslog://" + rcv.addr}},
		{[]string{"drains", "add", "-a", app, "https://" + rcv.addr + "/logs"}},
		{[]string{"drains", "add", "-a", app, "syslog://192.168.1.10:514"}},
		{[]string{"drains", "add", "-a", app, "syslog://169.254.169.254:514"}},
		{[]string{"drains", "add", "-a", app, "https://169.254.169.254/logs"}},
	} {
		r := a.pier(c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, "--allow-private-targets") {
			t.Errorf("pier %s: exit %d, stderr %q; want a refusal naming --allow-private-targets", strings.Join(c.args, " "), r.code, r.stderr)
		}
	}
	r := a.pier("webhooks", "add", "-a", app, "--url", "http://"+rcv.addr+"/hook", "--allow-private")
	if r.code == 0 || !strings.Contains(r.stderr, "admin") {
		t.Errorf("a deploy token's webhook with --allow-private: exit %d, stderr %q; want it refused, saying it needs admin", r.code, r.stderr)
	}
	a.token = admin
	var hooks []api.Webhook
	if a.pierJSON(&hooks, "webhooks", "list", "-a", app); len(hooks) != 0 {
		t.Errorf("refused webhooks were stored: %+v", hooks)
	}
	var drains []api.Drain
	if a.pierJSON(&drains, "drains", "list", "-a", app); len(drains) != 0 {
		t.Errorf("refused drains were stored: %+v", drains)
	}

	// With the setting, a receiver on this host is fine.
	b := startAgent(t, agentOpts{extra: []string{allowPrivateTargets}})
	b.mustPier("apps", "create", app)
	var created api.WebhookCreated
	b.pierJSON(&created, "webhooks", "add", "-a", app, "--url", "http://"+rcv.addr+"/hook", "--secret", rcv.secret)
	if out := b.mustPier("webhooks", "test", "-a", app, created.ID); !strings.Contains(out, "code 200") {
		t.Errorf("webhooks test to 127.0.0.1 with --allow-private-targets: %q", out)
	}
}
