package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func addonsDestroyCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "destroy",
		Usage:     "destroy an add-on of the app, its data and its backups; its config vars go (a release each)",
		ArgsUsage: "ADDON",
		Flags: appFlags(&ucli.StringFlag{
			Name:  "confirm",
			Usage: "the add-on's `NAME` again, to confirm",
		}),
		Action: runAddonsDestroy,
	}
}

func runAddonsDestroy(c *ucli.Context) error {
	name, err := addonArg(c, false)
	if err != nil {
		return err
	}
	if confirm := c.String("confirm"); confirm != name {
		if confirm == "" {
			return fmt.Errorf("destroying %s deletes its data and its backups for good: confirm with `pier addons destroy %s --confirm %s`", name, name, name)
		}
		return fmt.Errorf("--confirm %q does not match the add-on %q: nothing was destroyed", confirm, name)
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Destroying %s... ", name)
	ch, err := cl.DestroyAddon(c.Context, app, name, name)
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("destroying %s: %w", name, err)
	}
	progress(c, "done\n")
	if wantJSON(c) {
		return printJSON(c, ch)
	}
	printReleases(c, ch.Releases)
	return nil
}
