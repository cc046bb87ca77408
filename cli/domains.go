package cli

import (
	"fmt"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func domainsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "domains",
		Usage: "an app's custom domains; certificates follow automatically",
		Flags: appFlags(),
		Subcommands: []*ucli.Command{
			{Name: "add", Usage: "route a host name to the app", ArgsUsage: "HOST", Flags: appFlags(), Action: runDomainsAdd},
			{Name: "remove", Usage: "stop routing a host name to the app", ArgsUsage: "HOST", Flags: appFlags(), Action: runDomainsRemove},
			{Name: "list", Usage: "list the app's custom domains", Flags: appFlags(), Action: runDomainsList},
		},
	}
}

// hostArg is the one HOST argument of domains add and remove.
func hostArg(c *ucli.Context) (string, error) {
	as, err := args(c)
	if err != nil {
		return "", err
	}
	if len(as) != 1 {
		return "", fmt.Errorf("give one host name: %s -a APP HOST", helpName(c))
	}
	host := strings.ToLower(strings.TrimSuffix(as[0], "."))
	if strings.ContainsAny(host, "/: ") || host == "" {
		return "", fmt.Errorf("%q is not a host name: give it without scheme, port or path, like www.example.com", as[0])
	}
	return host, nil
}

func runDomainsAdd(c *ucli.Context) error {
	host, err := hostArg(c)
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	d, err := cl.AddDomain(c.Context, app, host)
	if err != nil {
		return fmt.Errorf("adding %s to %s: %w", host, app, err)
	}
	if wantJSON(c) {
		return printJSON(c, d)
	}
	fmt.Fprintf(c.App.ErrWriter, "Added %s to %s. Point its DNS at this pier host; the certificate follows (see `pier certs -a %s`).\n", d.Host, app, app)
	return nil
}

func runDomainsRemove(c *ucli.Context) error {
	host, err := hostArg(c)
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	if err := cl.RemoveDomain(c.Context, app, host); err != nil {
		return fmt.Errorf("removing %s from %s: %w", host, app, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Removed %s from %s.\n", host, app)
	return nil
}

func runDomainsList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	ds, err := cl.Domains(c.Context, app)
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []api.Domain{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i].Host < ds[j].Host })
	if wantJSON(c) {
		return printJSON(c, ds)
	}
	t := newTable(c.App.Writer, "HOST", "ADDED")
	for _, d := range ds {
		t.row(d.Host, ago(d.CreatedAt, now()))
	}
	return t.flush()
}
