package cli

import (
	"sort"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func releasesCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "releases",
		Usage:  "list an app's releases, newest first; * marks the live one",
		Flags:  appFlags(),
		Action: runReleases,
	}
}

func runReleases(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	rs, err := cl.Releases(c.Context, app)
	if err != nil {
		return err
	}
	if rs == nil {
		rs = []api.Release{}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Version > rs[j].Version })
	if wantJSON(c) {
		return printJSON(c, rs)
	}
	t := newTable(c.App.Writer, "  VERSION", "STATUS", "DESCRIPTION", "BY", "WHEN", "COMMIT")
	for _, r := range rs {
		mark := "  "
		if r.Status == api.StatusLive {
			mark = "* "
		}
		desc := r.Description
		if r.Status == api.StatusFailed && r.Reason != "" {
			desc += " (" + r.Reason + ")"
		}
		t.row(mark+versionName(r.Version), r.Status, desc, r.CreatedBy, ago(r.CreatedAt, now()), short(r.Commit))
	}
	return t.flush()
}
