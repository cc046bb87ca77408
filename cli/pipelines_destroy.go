package cli

import (
	ucli "github.com/urfave/cli/v2"
)

func pipelinesDestroyCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "destroy",
		Usage:     "remove a pipeline; its apps stay, in no pipeline",
		ArgsUsage: "NAME",
		Flags:     clientFlags(),
		Action:    runPipelinesDestroy,
	}
}

func runPipelinesDestroy(c *ucli.Context) error {
	name, err := pipelineArg(c, "pier pipelines destroy NAME")
	if err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	progress(c, "Destroying pipeline %s... ", name)
	if err := cl.DestroyPipeline(c.Context, name); err != nil {
		progress(c, "failed\n")
		return err
	}
	progress(c, "done\n")
	return nil
}
