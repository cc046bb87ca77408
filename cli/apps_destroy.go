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
	var cl *api.Client
	var app string
	switch {
	case len(as) > 1:
		return fmt.Errorf("give one app: pier apps destroy --confirm NAME NAME")
	case len(as) == 1:
		// The app may be named as with Dokku's apps:destroy NAME.
		app = as[0]
		if a := lineageString(c, "app"); a != "" && a != app {
			return fmt.Errorf("-a %s and %s name two apps: nothing was destroyed", a, app)
		}
		if cl, err = newClient(); err != nil {
			return err
		}
	default:
		if cl, app, err = appClient(c); err != nil {
			return err
		}
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
