package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent"
	"github.com/pierhq/pier/agent/gitserver"
)

// hookCommand is `pier hook pre-receive`, the git hook the agent installs in
// the repositories it serves.
func hookCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "hook",
		Usage:     "run a git hook of a repository the agent serves",
		ArgsUsage: "pre-receive",
		Hidden:    true,
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return fmt.Errorf("usage: pier hook HOOK")
			}
			return gitserver.RunHook(c.Context, c.Args().First(), os.Stdin, c.App.Writer, c.App.ErrWriter)
		},
	}
}

// buildpackCommand is `pier buildpack serve NAME`: a built-in buildpack
// served over go-plugin by the same binary.
func buildpackCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "buildpack",
		Usage:  "built-in buildpacks",
		Hidden: true,
		Subcommands: []*ucli.Command{{
			Name:      "serve",
			Usage:     "serve a built-in buildpack over go-plugin",
			ArgsUsage: "NAME",
			Action: func(c *ucli.Context) error {
				if c.NArg() != 1 {
					return fmt.Errorf("usage: pier buildpack serve NAME")
				}
				return agent.ServeBuildpack(c.Args().First())
			},
		}},
	}
}

// staticServeCommand is `pier static-serve DIR`, the web process of a
// static site built by the static buildpack (its slug carries bin/pier).
func staticServeCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "static-serve",
		Usage:     "serve a static site's files on $PORT (the static buildpack's web process)",
		ArgsUsage: "DIR",
		Hidden:    true,
		Action: func(c *ucli.Context) error {
			return agent.StaticServe(c.Context, c.Args().Slice())
		},
	}
}
