package cli

import ucli "github.com/urfave/cli/v2"

func appsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "apps",
		Usage: "create, list, inspect and destroy apps",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			appsCreateCommand(),
			appsListCommand(),
			appsInfoCommand(),
			appsDestroyCommand(),
			appsPurgeCacheCommand(),
		},
	}
}
