package cli

import (
	"io"
	"net/url"

	ucli "github.com/urfave/cli/v2"
)

func redisCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "redis",
		Usage: "the app's Redis add-on",
		Subcommands: []*ucli.Command{{
			Name:      "cli",
			Usage:     "a redis-cli session on the app's Redis, through the agent",
			ArgsUsage: "[-- COMMAND ARGS...]",
			Description: "With a command, runs it and exits (pier redis cli -a APP -- GET key); without,\n" +
				"reads commands from standard input.",
			Flags:  appFlags(&ucli.StringFlag{Name: "addon", Usage: "which add-on, when the app has several (default: the one in REDIS_URL)"}),
			Action: runRedisCLI,
		}},
		Action: groupAction,
	}
}

func runRedisCLI(c *ucli.Context) error {
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	q := url.Values{}
	if a := c.String("addon"); a != "" {
		q.Set("addon", a)
	}
	var stdin io.Reader = c.App.Reader
	if as := c.Args().Slice(); len(as) > 0 {
		q["arg"] = as
		stdin = nil
	}
	return sessionExit(cl.Session(c.Context, app, "redis/cli", q, stdin, c.App.Writer))
}
