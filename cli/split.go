package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

// pier split: an A/B split, a canary held at one share with no analysis
// (cli/canary.go shows and ends it as well).
func splitCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "split",
		Usage: "send a share of visitors (sticky, by cookie) to release vN, with no analysis, until --off or pier canary promote",
		Flags: appFlags(
			&ucli.StringFlag{Name: "to", Usage: "the release the share goes to, vN (default: the newest one not live)"},
			&ucli.IntFlag{Name: "percent", Usage: "its share of visitors, 1 to 99"},
			&ucli.BoolFlag{Name: "cookie", Usage: "keep each visitor on one side by a cookie (always on; for clarity)"},
			&ucli.BoolFlag{Name: "off", Usage: "end the split: everyone back on the live release"},
		),
		Action: runSplit,
	}
}

func runSplit(c *ucli.Context) error {
	if as, err := args(c); err != nil {
		return err
	} else if len(as) > 0 {
		return fmt.Errorf("unexpected %q: pier split -a APP --to vN --percent 10", as[0])
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	if c.Bool("off") {
		st, err := cl.CanaryAction(c.Context, app, "abort")
		if err != nil {
			return fmt.Errorf("ending the split of %s: %w", app, err)
		}
		return printCanary(c, st)
	}
	if !c.IsSet("percent") {
		return fmt.Errorf("say which share: pier split -a %s --to vN --percent 10", app)
	}
	req := api.CanaryRequest{Split: true, Steps: []int{c.Int("percent")}}
	if to := c.String("to"); to != "" {
		if req.Release, err = parseVersion(to); err != nil {
			return err
		}
	}
	st, err := cl.StartCanary(c.Context, app, req)
	if err != nil {
		return fmt.Errorf("splitting %s: %w", app, err)
	}
	return printCanary(c, st)
}
