package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func maintenanceCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "maintenance",
		Usage:     "turn maintenance mode on (visitors get a 503 page) or off",
		ArgsUsage: "on|off",
		Flags:     appFlags(),
		Action:    runMaintenance,
	}
}

func runMaintenance(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 || (as[0] != "on" && as[0] != "off") {
		return fmt.Errorf("say on or off: pier maintenance on -a APP")
	}
	on := as[0] == "on"
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	if err := cl.SetMaintenance(c.Context, app, on); err != nil {
		return fmt.Errorf("turning maintenance %s for %s: %w", as[0], app, err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Maintenance mode is %s for %s.\n", as[0], app)
	return nil
}
