package agent

import (
	"context"
	"errors"
	"io"
)

// Run starts the agent and serves until ctx is done.
func Run(ctx context.Context, cfg Config) error {
	return errors.New("not yet")
}

// RunHook runs a git hook ("pre-receive") inside a repository the agent
// serves: it hands the push to the agent and streams the deploy's output.
func RunHook(ctx context.Context, hook string, stdin io.Reader, stdout, stderr io.Writer) error {
	return errors.New("not yet")
}

// ServeBuildpack serves the built-in buildpack name over go-plugin; it is
// what `pier buildpack serve NAME` runs.
func ServeBuildpack(name string) error {
	return errors.New("not yet")
}
