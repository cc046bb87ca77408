package cli

import (
	"sort"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func psCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "ps",
		Usage:  "list an app's running instances",
		Flags:  appFlags(),
		Action: runPS,
	}
}

func runPS(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	is, err := cl.Instances(c.Context, app)
	if err != nil {
		return err
	}
	if is == nil {
		is = []api.Instance{}
	}
	sort.SliceStable(is, func(i, j int) bool {
		if is[i].Type != is[j].Type {
			return is[i].Type < is[j].Type
		}
		if is[i].Index != is[j].Index {
			return is[i].Index < is[j].Index
		}
		return is[i].Slot < is[j].Slot
	})
	if wantJSON(c) {
		return printJSON(c, is)
	}
	t := newTable(c.App.Writer, "NAME", "SLOT", "RELEASE", "STATE", "UPTIME", "ADDRESS")
	for _, in := range is {
		uptime := ""
		if in.State == api.StateUp && !in.StartedAt.IsZero() {
			uptime = shortDuration(now().Sub(in.StartedAt))
		}
		t.row(in.Name, in.Slot, versionName(in.Release), in.State, uptime, in.Addr)
	}
	return t.flush()
}
