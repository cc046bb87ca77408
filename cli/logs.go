package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func logsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "logs",
		Usage: "show an app's log lines (app, router and platform); -f follows them until Ctrl-C",
		Flags: []ucli.Flag{
			appFlag(),
			&ucli.IntFlag{Name: "num", Aliases: []string{"n"}, Value: 100, Usage: "how many past lines"},
			&ucli.BoolFlag{Name: "tail", Aliases: []string{"f"}, Usage: "keep streaming new lines"},
			&ucli.StringFlag{Name: "process", Aliases: []string{"p"}, Usage: "only lines of this process `TYPE` (web) or source (router, pier)"},
		},
		Action: runLogs,
	}
}

func runLogs(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	if c.Int("num") < 0 {
		return fmt.Errorf("-n must be 0 or more")
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	o := api.LogOptions{Lines: c.Int("num"), Follow: c.Bool("tail"), Process: c.String("process")}
	// The client ends the stream without an error when ctx is done (Ctrl-C).
	if err := cl.Logs(c.Context, app, o, c.App.Writer); err != nil && c.Context.Err() == nil {
		return fmt.Errorf("reading the logs of %s: %w", app, err)
	}
	return nil
}
