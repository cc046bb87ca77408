package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func addonsAttachCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "attach",
		Usage:     "share an add-on with another app: sets its URL there (a new release)",
		ArgsUsage: "ADDON",
		Flags:     appFlags(&ucli.StringFlag{Name: "as", Usage: "the config var is `AS`_URL"}),
		Action:    runAddonsAttach,
	}
}

func addonsDetachCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "detach",
		Usage:     "take a shared add-on's URL off the app (a new release); its data stays",
		ArgsUsage: "ADDON",
		Flags:     appFlags(),
		Action:    runAddonsDetach,
	}
}

func runAddonsAttach(c *ucli.Context) error {
	name, err := addonArg(c, false)
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	ch, err := cl.AttachAddon(c.Context, app, name, c.String("as"))
	if err != nil {
		return fmt.Errorf("attaching %s to %s: %w", name, app, err)
	}
	if wantJSON(c) {
		return printJSON(c, ch)
	}
	at, _ := ch.Addon.AttachmentOf(app)
	fmt.Fprintf(c.App.Writer, "Attached %s to %s as %s\n", name, app, at.Var)
	printReleases(c, ch.Releases)
	return nil
}

func runAddonsDetach(c *ucli.Context) error {
	name, err := addonArg(c, false)
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	ch, err := cl.DetachAddon(c.Context, app, name)
	if err != nil {
		return fmt.Errorf("detaching %s from %s: %w", name, app, err)
	}
	if wantJSON(c) {
		return printJSON(c, ch)
	}
	fmt.Fprintf(c.App.Writer, "Detached %s from %s\n", name, app)
	printReleases(c, ch.Releases)
	return nil
}
