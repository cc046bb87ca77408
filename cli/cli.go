// Package cli is pier's command tree: the client commands, which reach the
// agent only through the api client, and the daemon commands (agent, hidden
// hook and buildpack helpers).
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

// version is the client's version, set at build time with
// -ldflags "-X github.com/pierhq/pier/cli.version=v1.2.3".
var version = "dev"

// ExitCoder is an error that carries the process exit code. An empty message
// means there is nothing more to say (the command already spoke).
type ExitCoder interface {
	error
	ExitCode() int
}

// exitError is the ExitCoder pier's commands return.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }
func (e *exitError) ExitCode() int { return e.code }

// Run runs the pier command line.
func Run(ctx context.Context, args []string) error {
	return run(ctx, args, os.Stdout, os.Stderr)
}

// run runs the command line with its output going to stdout and stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	app := newApp(stdout, stderr)
	return explain(app.RunContext(ctx, interspersed(app, args)))
}

func newApp(stdout, stderr io.Writer) *ucli.App {
	app := &ucli.App{
		Name:                 "pier",
		Usage:                "a self-hosted, Heroku-like platform",
		Version:              version,
		HideVersion:          true,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: false,
		Flags:                []ucli.Flag{jsonFlag()},
		// Errors are returned to main, which prints them once and exits.
		ExitErrHandler: func(*ucli.Context, error) {},
		Action:         groupAction,
		Commands: []*ucli.Command{
			agentCommand(),
			proxyCommand(),
			hookCommand(),
			buildpackCommand(),
			staticServeCommand(),
			loginCommand(),
			logoutCommand(),
			appsCommand(),
			releasesCommand(),
			rollbackCommand(),
			canaryCommand(),
			splitCommand(),
			pipelinesCommand(),
			promoteCommand(),
			reviewAppsCommand(),
			ciCommand(),
			scaleCommand(),
			psCommand(),
			logsCommand(),
			configCommand(),
			domainsCommand(),
			addonsCommand(),
			pgCommand(),
			redisCommand(),
			certsCommand(),
			metricsCommand(),
			usageCommand(),
			restartCommand(),
			dashboardCommand(),
			runCommand(),
			maintenanceCommand(),
			settingsCommand(),
			keysCommand(),
			tokensCommand(),
			secretsCommand(),
			backupCommand(),
			infraCommand(),
			auditCommand(),
			eventsCommand(),
			webhooksCommand(),
			drainsCommand(),
			versionCommand(),
			installCommand(),
			upgradeCommand(),
		},
	}
	app.OnUsageError = func(c *ucli.Context, err error, _ bool) error {
		return usageError(c, err)
	}
	for _, cmd := range app.Commands {
		setUsageErrors(cmd)
	}
	return app
}

// setUsageErrors makes every command turn a flag error into one clear error
// instead of printing the whole help text.
func setUsageErrors(cmd *ucli.Command) {
	cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error {
		return usageError(c, err)
	}
	if len(cmd.Subcommands) > 0 && cmd.Action == nil {
		cmd.Action = groupAction
	}
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub)
	}
}

func usageError(c *ucli.Context, err error) error {
	return fmt.Errorf("%v (see `%s --help`)", err, helpName(c))
}

func helpName(c *ucli.Context) string {
	if c.Command != nil && c.Command.HelpName != "" {
		return c.Command.HelpName
	}
	return c.App.Name
}

// groupAction runs for `pier` or a command group (`pier apps`) without a
// known subcommand: help when nothing was given, an error otherwise.
func groupAction(c *ucli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("unknown command %q (see `%s --help`)", c.Args().First(), helpName(c))
	}
	return ucli.ShowSubcommandHelp(c)
}

// explain adds what to do next to errors whose cause the user can fix.
func explain(err error) error {
	var se *api.StatusError
	if errors.As(err, &se) && se.Code == 401 && !strings.Contains(se.Message, "pier login") {
		return fmt.Errorf("%w (set PIER_TOKEN or run `pier login --api URL --token TOKEN`)", err)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("%w (is the agent running? start it with `pier agent`, or point PIER_API or `pier login` at it)", err)
	}
	return err
}
