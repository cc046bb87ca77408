package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func appsDestroyCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "destroy",
		Usage:     "destroy an app: its processes, releases, config and domains",
		ArgsUsage: "[NAME]",
		Flags: appFlags(&ucli.StringFlag{
			Name:  "confirm",
			Usage: "the app's `NAME` again, to confirm",
		}),
		Action: runAppsDestroy,
	}
}

func runAppsDestroy(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	cl, app, err := namedAppClient(c, as, "pier apps destroy --confirm NAME NAME", "nothing was destroyed")
	if err != nil {
		return err
	}
	if confirm := c.String("confirm"); confirm != app {
		if confirm == "" {
			return fmt.Errorf("destroying %s deletes its releases, config and domains for good: confirm with `pier apps destroy -a %s --confirm %s`", app, app, app)
		}
		return fmt.Errorf("--confirm %q does not match the app %q: nothing was destroyed", confirm, app)
	}
	progress(c, "Destroying %s... ", app)
	if err := cl.DestroyApp(c.Context, app); err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("destroying %s: %w", app, err)
	}
	progress(c, "done\n")
	return nil
}

// namedAppClient is appClient for a command that also takes the app as its
// one argument, as Heroku's apps:info NAME and Dokku's apps:destroy NAME do.
func namedAppClient(c *ucli.Context, as []string, usage, nothing string) (*api.Client, string, error) {
	switch {
	case len(as) > 1:
		return nil, "", fmt.Errorf("give one app: %s", usage)
	case len(as) == 1:
		if a := lineageString(c, "app"); a != "" && a != as[0] {
			return nil, "", fmt.Errorf("-a %s and %s name two apps: %s", a, as[0], nothing)
		}
		cl, err := newClient()
		return cl, as[0], err
	}
	return appClient(c)
}
