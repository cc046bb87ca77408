package cli

import (
	"sort"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func appsListCommand() *ucli.Command {
	return &ucli.Command{
		Name:   "list",
		Usage:  "list the apps",
		Flags:  clientFlags(),
		Action: runAppsList,
	}
}

func runAppsList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	apps, err := cl.ListApps(c.Context)
	if err != nil {
		return err
	}
	if apps == nil {
		apps = []api.App{}
	}
	sort.Slice(apps, func(i, j int) bool { return apps[i].Name < apps[j].Name })
	if wantJSON(c) {
		return printJSON(c, apps)
	}
	t := newTable(c.App.Writer, "NAME", "RELEASE", "WEB URL", "CREATED")
	for _, a := range apps {
		t.row(a.Name, versionName(a.LiveRelease), a.WebURL, ago(a.CreatedAt, now()))
	}
	return t.flush()
}
