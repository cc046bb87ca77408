package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func appsDestroyCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "destroy",
		Usage: "destroy an app: its processes, releases, config and domains",
		Flags: appFlags(&ucli.StringFlag{
			Name:  "confirm",
			Usage: "the app's `NAME` again, to confirm",
		}),
		Action: runAppsDestroy,
	}
}

func runAppsDestroy(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
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
