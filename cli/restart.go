package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func restartCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "restart",
		Usage:  "restart every process of an app",
		Flags:  appFlags(),
		Action: runRestart,
	}
}

func runRestart(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Restarting %s... ", app)
	if err := cl.Restart(c.Context, app); err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("restarting %s: %w", app, err)
	}
	progress(c, "done\n")
	return nil
}
