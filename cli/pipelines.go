package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func pipelinesCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "pipelines",
		Usage: "group apps by stage (review, development, staging, production) to promote releases between them",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			pipelinesCreateCommand(),
			pipelinesListCommand(),
			pipelinesInfoCommand(),
			pipelinesAddCommand(),
			pipelinesRemoveCommand(),
			pipelinesReviewCommand(),
			pipelinesDestroyCommand(),
		},
	}
}

// pipelineArg is the one pipeline name a command takes.
func pipelineArg(c *ucli.Context, usage string) (string, error) {
	as, err := args(c)
	if err != nil {
		return "", err
	}
	if len(as) != 1 {
		return "", fmt.Errorf("give one pipeline: %s", usage)
	}
	return as[0], nil
}

// printPipeline shows a pipeline's apps by stage.
func printPipeline(c *ucli.Context, p api.Pipeline) error {
	if wantJSON(c) {
		return printJSON(c, p)
	}
	fmt.Fprintf(c.App.Writer, "=== %s\n", p.Name)
	if p.Review.Template != "" {
		fmt.Fprintf(c.App.Writer, "Review apps: config from %s", p.Review.Template)
		if len(p.Review.NoCopy) > 0 {
			fmt.Fprintf(c.App.Writer, " except %s", strings.Join(p.Review.NoCopy, ", "))
		}
		fmt.Fprintln(c.App.Writer)
	}
	t := newTable(c.App.Writer, "STAGE", "APP", "RELEASE", "COMMIT", "WEB URL")
	for _, a := range p.Apps {
		t.row(a.Stage, a.App, versionName(a.LiveRelease), short(a.Commit), a.WebURL)
	}
	return t.flush()
}
