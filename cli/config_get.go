package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func configGetCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "get",
		Usage:     "print the value of one config var (exit 1 when it is not set)",
		ArgsUsage: "KEY",
		Flags:     appFlags(),
		Action:    runConfigGet,
	}
}

func runConfigGet(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return fmt.Errorf("give one name: pier config get -a APP KEY")
	}
	if err := checkConfigKey(as[0]); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	vars, err := cl.Config(c.Context, app)
	if err != nil {
		return err
	}
	v, ok := vars[as[0]]
	if !ok {
		return &exitError{code: 1, msg: fmt.Sprintf("%s is not set on %s", as[0], app)}
	}
	if wantJSON(c) {
		return printJSON(c, v)
	}
	fmt.Fprintln(c.App.Writer, v)
	return nil
}
