package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func appsPurgeCacheCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "purge-cache",
		Usage:  "delete an app's build cache; the next push builds from scratch",
		Flags:  appFlags(),
		Action: runAppsPurgeCache,
	}
}

func runAppsPurgeCache(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	if err := cl.PurgeCache(c.Context, app); err != nil {
		return fmt.Errorf("purging the build cache of %s: %w", app, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Purged the build cache of %s.\n", app)
	return nil
}
