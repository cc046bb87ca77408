package cli

import (
	"strconv"

	ucli "github.com/urfave/cli/v2"
)

func pipelinesListCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "list",
		Usage:  "list the pipelines",
		Flags:  clientFlags(),
		Action: runPipelinesList,
	}
}

func runPipelinesList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	ps, err := cl.ListPipelines(c.Context)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, ps)
	}
	t := newTable(c.App.Writer, "NAME", "APPS", "CREATED")
	for _, p := range ps {
		t.row(p.Name, strconv.Itoa(len(p.Apps)), ago(p.CreatedAt, now()))
	}
	return t.flush()
}
