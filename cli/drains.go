package cli

import (
	"fmt"
	"strconv"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func drainsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "drains",
		Usage: "send an app's log lines to syslog (TCP, TLS) or HTTPS, as Heroku's log drains",
		Flags: appFlags(),
		Subcommands: []*ucli.Command{
			{Name: "add", Usage: "add a drain: syslog://HOST:PORT, syslog+tls://HOST:PORT or https://HOST/PATH", ArgsUsage: "URL", Flags: appFlags(), Action: runDrainsAdd},
			{Name: "list", Usage: "list the app's drains with the lines each sent and dropped", Flags: appFlags(), Action: runDrainsList},
			{Name: "remove", Usage: "remove a drain", ArgsUsage: "ID", Flags: appFlags(), Action: runDrainsRemove},
		},
		Action: runDrainsList,
	}
}

func runDrainsAdd(c *ucli.Context) error {
	raw, err := oneArg(c, "URL")
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	d, err := cl.AddDrain(c.Context, app, api.DrainRequest{URL: raw})
	if err != nil {
		return fmt.Errorf("adding the drain: %w", err)
	}
	if wantJSON(c) {
		return printJSON(c, d)
	}
	fmt.Fprintln(c.App.Writer, d.ID)
	fmt.Fprintf(c.App.ErrWriter, "Added log drain %s (%s) to %s: new lines go there from now on.\n", d.ID, d.URL, app)
	return nil
}

func runDrainsList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	ds, err := cl.Drains(c.Context, app)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, ds)
	}
	t := newTable(c.App.Writer, "ID", "URL", "SENT", "DROPPED", "LAST ERROR")
	for _, d := range ds {
		t.row(d.ID, d.URL, strconv.FormatUint(d.Sent, 10), strconv.FormatUint(d.Dropped, 10), d.LastError)
	}
	return t.flush()
}

func runDrainsRemove(c *ucli.Context) error {
	id, err := oneArg(c, "ID")
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	if err := cl.RemoveDrain(c.Context, app, id); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "Removed log drain %s.\n", id)
	return nil
}
