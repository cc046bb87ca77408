package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func configSetCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "set",
		Usage:     "set config vars and restart the app with them",
		ArgsUsage: "KEY=VALUE ...",
		Flags:     appFlags(),
		Action:    runConfigSet,
	}
}

func runConfigSet(c *ucli.Context) error {
	as := c.Args().Slice() // values may start with "-"
	if len(as) == 0 {
		return fmt.Errorf("say what to set: pier config set -a APP KEY=VALUE ...")
	}
	vars := map[string]*string{}
	for _, a := range as {
		k, v, ok := strings.Cut(a, "=")
		if !ok && strings.HasPrefix(a, "-") {
			_, err := args(c)
			return err
		}
		if !ok {
			return fmt.Errorf("%q is not KEY=VALUE", a)
		}
		if err := checkConfigKey(k); err != nil {
			return err
		}
		vars[k] = &v
	}
	return updateConfig(c, "Setting", vars)
}
