package cli

import (
	ucli "github.com/urfave/cli/v2"
)

func pipelinesInfoCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "info",
		Usage:     "show a pipeline's apps by stage, with the release and commit each runs",
		ArgsUsage: "NAME",
		Flags:     clientFlags(),
		Action:    runPipelinesInfo,
	}
}

func runPipelinesInfo(c *ucli.Context) error {
	name, err := pipelineArg(c, "pier pipelines info NAME")
	if err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	p, err := cl.Pipeline(c.Context, name)
	if err != nil {
		return err
	}
	return printPipeline(c, p)
}
