package cli

import (
	ucli "github.com/urfave/cli/v2"
)

func pipelinesCreateCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "create",
		Usage:     "make an empty pipeline",
		ArgsUsage: "NAME",
		Flags:     clientFlags(),
		Action:    runPipelinesCreate,
	}
}

func runPipelinesCreate(c *ucli.Context) error {
	name, err := pipelineArg(c, "pier pipelines create NAME")
	if err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	progress(c, "Creating pipeline %s... ", name)
	p, err := cl.CreatePipeline(c.Context, name)
	if err != nil {
		progress(c, "failed\n")
		return err
	}
	progress(c, "done\nAdd apps with `pier pipelines add -a APP --stage staging %s`\n", name)
	return printPipeline(c, p)
}
