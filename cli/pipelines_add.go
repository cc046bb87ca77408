package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func pipelinesAddCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "add",
		Usage:     "put an app at a stage of a pipeline",
		ArgsUsage: "PIPELINE",
		Flags: appFlags(&ucli.StringFlag{
			Name:  "stage",
			Usage: "`STAGE`: " + strings.Join(api.Stages, ", "),
		}),
		Action: runPipelinesAdd,
	}
}

func runPipelinesAdd(c *ucli.Context) error {
	name, err := pipelineArg(c, "pier pipelines add -a APP --stage STAGE PIPELINE")
	if err != nil {
		return err
	}
	stage := c.String("stage")
	if stage == "" {
		return fmt.Errorf("give the app's stage: --stage %s", strings.Join(api.Stages, "|"))
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Adding %s to %s at stage %s... ", app, name, stage)
	p, err := cl.AddToPipeline(c.Context, name, app, stage)
	if err != nil {
		progress(c, "failed\n")
		return err
	}
	progress(c, "done\n")
	return printPipeline(c, p)
}

func pipelinesRemoveCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "remove",
		Usage:  "take an app out of its pipeline",
		Flags:  appFlags(),
		Action: runPipelinesRemove,
	}
}

func runPipelinesRemove(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Removing %s from its pipeline... ", app)
	p, err := cl.RemoveFromPipeline(c.Context, app)
	if err != nil {
		progress(c, "failed\n")
		return err
	}
	progress(c, "done\n")
	return printPipeline(c, p)
}
