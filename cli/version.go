package cli

import (
	"context"
	"fmt"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "version",
		Usage:  "print the client's version, and the agent's when it answers",
		Flags:  clientFlags(),
		Action: runVersion,
	}
}

// versionInfo is the --json document of `pier version`.
type versionInfo struct {
	Client string       `json:"client"`
	API    string       `json:"api,omitempty"`
	Agent  *api.Version `json:"agent,omitempty"`
	Error  string       `json:"agent_error,omitempty"`
}

func runVersion(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	info := versionInfo{Client: version}
	if cl, err := newClient(); err == nil {
		info.API = cl.BaseURL
		ctx, cancel := context.WithTimeout(c.Context, 3*time.Second)
		v, err := cl.Version(ctx)
		cancel()
		if err == nil {
			info.Agent = &v
		} else {
			info.Error = err.Error()
		}
	}
	if wantJSON(c) {
		return printJSON(c, info)
	}
	fmt.Fprintf(c.App.Writer, "client: pier %s\n", info.Client)
	if info.Agent != nil {
		fmt.Fprintf(c.App.Writer, "agent:  pier %s at %s (scheduler %s)\n", info.Agent.Version, info.API, info.Agent.Scheduler)
	} else if info.API != "" {
		fmt.Fprintf(c.App.ErrWriter, "agent at %s: %s\n", info.API, info.Error)
	}
	return nil
}
