package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func webhooksCommand() *ucli.Command {
	scope := func(extra ...ucli.Flag) []ucli.Flag {
		return appFlags(append([]ucli.Flag{&ucli.BoolFlag{Name: "platform", Usage: "platform-wide: every app's events and the platform's (admin only)"}}, extra...)...)
	}
	return &ucli.Command{
		Name:  "webhooks",
		Usage: "send an app's events to a URL, signed (docs/notifications.md)",
		Flags: scope(),
		Subcommands: []*ucli.Command{
			{Name: "add", Usage: "add a webhook; its signing secret is shown once", Flags: scope(
				&ucli.StringFlag{Name: "url", Required: true, Usage: "the receiver: an http(s) `URL`"},
				&ucli.StringFlag{Name: "events", Usage: "event types or subjects, comma-separated: `deploy,rollback,build.failed` (default: all)"},
				&ucli.StringFlag{Name: "secret", Usage: "the signing `SECRET`, 16 characters or more (default: generated)"},
				&ucli.StringFlag{Name: "format", Value: api.FormatGeneric, Usage: "the body: generic, slack or discord"},
				&ucli.BoolFlag{Name: "allow-private", Usage: "let it reach loopback, private and link-local addresses (this host's services, cloud metadata); admin only"},
			), Action: runWebhooksAdd},
			{Name: "list", Usage: "list the webhooks", Flags: scope(), Action: runWebhooksList},
			{Name: "remove", Usage: "remove a webhook and what it has yet to deliver", ArgsUsage: "ID", Flags: scope(), Action: runWebhooksRemove},
			{Name: "deliveries", Usage: "a webhook's last deliveries: status, attempts, response code, last error", ArgsUsage: "ID", Flags: scope(
				&ucli.IntFlag{Name: "num", Aliases: []string{"n"}, Value: 50, Usage: "how many"},
			), Action: runWebhooksDeliveries},
			{Name: "test", Usage: "send a webhook.test event now and show the answer", ArgsUsage: "ID", Flags: scope(), Action: runWebhooksTest},
		},
		Action: runWebhooksList,
	}
}

// webhookScope is the client and the app of a webhooks command: "" with
// --platform.
func webhookScope(c *ucli.Context) (*api.Client, string, error) {
	if c.Bool("platform") {
		cl, err := newClient()
		return cl, "", err
	}
	return appClient(c)
}

// webhookOf is the client, the app ("" with --platform) and the one ID
// argument of a command on one webhook.
func webhookOf(c *ucli.Context) (*api.Client, string, string, error) {
	id, err := oneArg(c, "ID")
	if err != nil {
		return nil, "", "", err
	}
	cl, app, err := webhookScope(c)
	return cl, app, id, err
}

func runWebhooksAdd(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := webhookScope(c)
	if err != nil {
		return err
	}
	req := api.WebhookRequest{URL: c.String("url"), Secret: c.String("secret"), Format: c.String("format"), AllowPrivate: c.Bool("allow-private")}
	for _, e := range strings.Split(c.String("events"), ",") {
		if e = strings.TrimSpace(e); e != "" {
			req.Events = append(req.Events, e)
		}
	}
	w, err := cl.AddWebhook(c.Context, app, req)
	if err != nil {
		return fmt.Errorf("adding the webhook: %w", err)
	}
	if wantJSON(c) {
		return printJSON(c, w)
	}
	fmt.Fprintln(c.App.Writer, w.ID)
	fmt.Fprintf(c.App.ErrWriter, "Added webhook %s to %s. Its deliveries are signed with this secret, shown only now:\n  %s\n", w.ID, w.URL, w.Secret)
	return nil
}

func runWebhooksList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := webhookScope(c)
	if err != nil {
		return err
	}
	hooks, err := cl.Webhooks(c.Context, app)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, hooks)
	}
	t := newTable(c.App.Writer, "ID", "URL", "EVENTS", "FORMAT", "CREATED BY")
	for _, w := range hooks {
		events := strings.Join(w.Events, ",")
		if events == "" {
			events = "all"
		}
		t.row(w.ID, w.URL, events, w.Format, w.CreatedBy)
	}
	return t.flush()
}

func runWebhooksRemove(c *ucli.Context) error {
	cl, app, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	if err := cl.RemoveWebhook(c.Context, app, id); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "Removed webhook %s.\n", id)
	return nil
}

func runWebhooksDeliveries(c *ucli.Context) error {
	cl, app, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	ds, err := cl.Deliveries(c.Context, app, id, c.Int("num"))
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, ds)
	}
	t := newTable(c.App.Writer, "ID", "EVENT", "TYPE", "STATUS", "ATTEMPTS", "CODE", "LAST ATTEMPT", "LAST ERROR")
	for _, d := range ds {
		code, last := "-", "-"
		if d.LastCode != 0 {
			code = strconv.Itoa(d.LastCode)
		}
		if !d.LastAttemptAt.IsZero() {
			last = d.LastAttemptAt.Local().Format("2006-01-02 15:04:05")
		}
		t.row(d.ID, strconv.FormatUint(d.Event.ID, 10), d.Event.Type, d.Status, strconv.Itoa(d.Attempts), code, last, d.LastError)
	}
	return t.flush()
}

func runWebhooksTest(c *ucli.Context) error {
	cl, app, id, err := webhookOf(c)
	if err != nil {
		return err
	}
	res, err := cl.TestWebhook(c.Context, app, id)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		if err := printJSON(c, res); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(c.App.Writer, "code %d in %s\n", res.Code, time.Duration(res.Duration).Round(time.Millisecond))
	}
	if res.Error != "" {
		return fmt.Errorf("the test delivery failed: %s", res.Error)
	}
	return nil
}
