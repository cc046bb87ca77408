package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func configUnsetCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "unset",
		Usage:     "remove config vars and restart the app without them",
		ArgsUsage: "KEY ...",
		Flags:     appFlags(),
		Action:    runConfigUnset,
	}
}

func runConfigUnset(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) == 0 {
		return fmt.Errorf("say what to unset: pier config unset -a APP KEY ...")
	}
	vars := map[string]*string{}
	for _, k := range as {
		if err := checkConfigKey(k); err != nil {
			return err
		}
		vars[k] = nil
	}
	return updateConfig(c, "Unsetting", vars)
}
