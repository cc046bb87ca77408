package cli

import (
	"fmt"
	"sort"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func appsInfoCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "info",
		Usage:     "show an app (named by -a or as the argument)",
		ArgsUsage: "[NAME]",
		Flags:     appFlags(),
		Action:    runAppsInfo,
	}
}

func runAppsInfo(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	cl, name, err := namedAppClient(c, as, "pier apps info NAME", "nothing was shown")
	if err != nil {
		return err
	}
	app, err := cl.GetApp(c.Context, name)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, app)
	}
	fmt.Fprintf(c.App.Writer, "=== %s\n", app.Name)
	t := newTable(c.App.Writer)
	t.row("Git URL:", app.GitURL)
	t.row("Web URL:", app.WebURL)
	t.row("Live release:", liveInfo(app))
	if app.StandbyRelease > 0 {
		t.row("Standby release:", fmt.Sprintf("%s (until %s)", versionName(app.StandbyRelease), app.StandbyUntil.Local().Format("15:04:05")))
	}
	t.row("Formation:", formationString(app.Formation, app.MemoryMB))
	t.row("Buildpack:", app.Buildpack)
	t.row("Domains:", strings.Join(app.Domains, ", "))
	if app.Maintenance {
		t.row("Maintenance:", "on")
	}
	t.row("Isolation:", app.Isolation)
	t.row("Created:", ago(app.CreatedAt, now()))
	return t.flush()
}

func liveInfo(app api.App) string {
	if app.LiveRelease == 0 {
		return "nothing deployed yet (git push deploy main)"
	}
	return fmt.Sprintf("%s in slot %s", versionName(app.LiveRelease), app.LiveSlot)
}

// formationString is "web=2:512M worker=1", sorted by type, with the
// memory limits that mem sets.
func formationString(f, mem map[string]int) string {
	types := make([]string, 0, len(f))
	for t := range f {
		types = append(types, t)
	}
	sort.Strings(types)
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%s=%d", t, f[t])
		if mb := mem[t]; mb > 0 {
			parts[i] += fmt.Sprintf(":%dM", mb)
		}
	}
	return strings.Join(parts, " ")
}
