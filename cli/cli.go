// Package cli is pier's command tree: the client commands, which reach the
// agent only through the api client, and the daemon commands (agent, proxy).
package cli

import (
	"context"

	ucli "github.com/urfave/cli/v2"
)

// ExitCoder is an error that carries the process exit code.
type ExitCoder interface {
	error
	ExitCode() int
}

// Run runs the pier command line.
func Run(ctx context.Context, args []string) error {
	return newApp().RunContext(ctx, args)
}

func newApp() *ucli.App {
	return &ucli.App{
		Name:  "pier",
		Usage: "a self-hosted, Heroku-like platform",
	}
}
