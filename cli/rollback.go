package cli

import (
	"fmt"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func rollbackCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "rollback",
		Usage:     "go back to release vN, or to the one before the live release",
		ArgsUsage: "[vN]",
		Flags:     appFlags(),
		Action:    runRollback,
	}
}

func runRollback(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) > 1 {
		return fmt.Errorf("give at most one release: pier rollback -a APP [vN]")
	}
	version := 0
	if len(as) == 1 {
		if version, err = parseVersion(as[0]); err != nil {
			return err
		}
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	target := "the previous release"
	if version > 0 {
		target = versionName(version)
	}
	progress(c, "Rolling back %s to %s... ", app, target)
	r, err := cl.Rollback(c.Context, app, version)
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("rolling back %s: %w", app, err)
	}
	progress(c, "done, %s\n", versionName(r.Version))
	if wantJSON(c) {
		return printJSON(c, r)
	}
	fmt.Fprintf(c.App.Writer, "%s %s: %s\n", app, versionName(r.Version), r.Description)
	return nil
}

// parseVersion reads a release version: "v3" or "3".
func parseVersion(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(s, "v"), "V"))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a release version: use vN or N, as listed by `pier releases`", s)
	}
	return n, nil
}
