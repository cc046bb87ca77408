package cli

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func addonsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "addons",
		Usage: "databases pier runs for an app: PostgreSQL and Redis, wired in as DATABASE_URL and REDIS_URL",
		Flags: appFlags(),
		Subcommands: []*ucli.Command{
			addonsCreateCommand(),
			{Name: "list", Usage: "list the add-ons attached to the app", Flags: appFlags(), Action: runAddonsList},
			{Name: "info", Usage: "show an add-on: type, version, state, attachments", ArgsUsage: "[ADDON]", Flags: appFlags(), Action: runAddonsInfo},
			addonsDestroyCommand(),
			addonsAttachCommand(),
			addonsDetachCommand(),
		},
		Action: runAddonsList,
	}
}

func runAddonsList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	list, err := cl.ListAddons(c.Context, app)
	if err != nil {
		return fmt.Errorf("listing the add-ons of %s: %w", app, err)
	}
	if wantJSON(c) {
		return printJSON(c, list)
	}
	if len(list) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "%s has no add-ons: pier addons create postgres -a %s\n", app, app)
		return nil
	}
	t := newTable(c.App.Writer, "NAME", "TYPE", "VERSION", "STATE", "AS", "OWNER", "ATTACHED TO")
	for _, a := range list {
		at, _ := a.AttachmentOf(app)
		t.row(a.Name, a.Type, a.Version, a.State, at.Var, a.App, attachedApps(a))
	}
	return t.flush()
}

func attachedApps(a api.Addon) string {
	var apps []string
	for _, at := range a.Attachments {
		apps = append(apps, at.App)
	}
	return strings.Join(apps, ",")
}

// addonArg is the one ADDON argument of a command, or, when optional and
// absent, "".
func addonArg(c *ucli.Context, optional bool) (string, error) {
	as, err := args(c)
	if err != nil {
		return "", err
	}
	switch {
	case len(as) == 1:
		return as[0], nil
	case len(as) == 0 && optional:
		return "", nil
	}
	return "", fmt.Errorf("give one add-on name: %s -a APP ADDON (pier addons list -a APP shows them)", helpName(c))
}

func runAddonsInfo(c *ucli.Context) error {
	name, err := addonArg(c, true)
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	var a api.Addon
	if name == "" {
		list, err := cl.ListAddons(c.Context, app)
		if err != nil {
			return fmt.Errorf("listing the add-ons of %s: %w", app, err)
		}
		if len(list) != 1 {
			return fmt.Errorf("%s has %d add-ons: name one (pier addons info -a %s ADDON)", app, len(list), app)
		}
		a = list[0]
	} else if a, err = cl.GetAddon(c.Context, app, name); err != nil {
		return fmt.Errorf("reading add-on %s: %w", name, err)
	}
	if wantJSON(c) {
		return printJSON(c, a)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "=== %s\n", a.Name)
	fmt.Fprintf(w, "Type:        %s %s\n", a.Type, a.Version)
	fmt.Fprintf(w, "State:       %s", a.State)
	if a.Restarts > 0 {
		fmt.Fprintf(w, " (%d restarts)", a.Restarts)
	}
	fmt.Fprintln(w)
	if a.Port != 0 {
		fmt.Fprintf(w, "Listens on:  127.0.0.1:%d", a.Port)
		if a.Listen != "" {
			fmt.Fprintf(w, " and %s", net.JoinHostPort(a.Listen, strconv.Itoa(a.Port)))
		}
		if a.TLS {
			fmt.Fprint(w, ", TLS only (its authority: pier addons info --json, .ca_cert)")
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Owner:       %s\n", a.App)
	for _, at := range a.Attachments {
		fmt.Fprintf(w, "Attached to: %s as %s\n", at.App, at.Var)
	}
	if a.UID != 0 {
		fmt.Fprintf(w, "Runs as:     uid %d\n", a.UID)
	}
	fmt.Fprintf(w, "Created:     %s by %s\n", a.CreatedAt.Format("2006-01-02 15:04:05 MST"), a.CreatedBy)
	return nil
}

// printReleases says which releases an add-on change made.
func printReleases(c *ucli.Context, rels []api.Release) {
	for _, r := range rels {
		fmt.Fprintf(c.App.ErrWriter, "%s of %s: %s\n", versionName(r.Version), r.App, r.Description)
	}
}
