package cli

import (
	"fmt"
	"time"

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
			&ucli.StringFlag{Name: "since", Usage: "only lines from this `TIME` on: a duration back from now (1h, 2d) or a time (RFC 3339); searches all the agent keeps"},
			&ucli.StringFlag{Name: "until", Usage: "only lines up to this `TIME`: as --since"},
			&ucli.StringFlag{Name: "grep", Usage: "only lines that contain `TEXT`; searches all the agent keeps"},
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
	o := api.LogOptions{Lines: c.Int("num"), Follow: c.Bool("tail"), Process: c.String("process"), Grep: c.String("grep")}
	for _, b := range []struct {
		flag string
		t    *time.Time
	}{{"since", &o.Since}, {"until", &o.Until}} {
		if s := c.String(b.flag); s != "" {
			t, err := parseTimeFlag(s)
			if err != nil {
				return fmt.Errorf("--%s %s: give a duration back from now such as 1h or 2d, or a time such as 2026-01-02T15:04:05Z", b.flag, s)
			}
			*b.t = t
		}
	}
	// The client ends the stream without an error when ctx is done (Ctrl-C).
	if err := cl.Logs(c.Context, app, o, c.App.Writer); err != nil && c.Context.Err() == nil {
		return fmt.Errorf("reading the logs of %s: %w", app, err)
	}
	return nil
}

// parseTimeFlag reads a time flag: RFC 3339, or a duration back from now.
func parseTimeFlag(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := api.ParseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("invalid time %q", s)
	}
	return now().Add(-d), nil
}
