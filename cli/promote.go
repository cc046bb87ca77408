package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func promoteCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "promote",
		Usage: "deploy an app's live release, unbuilt, to the apps downstream in its pipeline, each with its own config",
		Flags: appFlags(
			&ucli.StringFlag{
				Name:  "to",
				Usage: "the `APPS` to promote to, comma-separated (default: the apps of the next stage)",
			},
			&ucli.StringFlag{
				Name:  "release",
				Usage: "promote only if `vN` is still the live release",
			},
		),
		Action: runPromote,
	}
}

func runPromote(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	req := api.PromoteRequest{}
	for _, t := range strings.Split(c.String("to"), ",") {
		if t = strings.TrimSpace(t); t != "" {
			req.To = append(req.To, t)
		}
	}
	if v := c.String("release"); v != "" {
		n, err := parseVersion(v)
		if err != nil {
			return err
		}
		req.Release = n
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Promoting %s...\n", app)
	p, err := cl.Promote(c.Context, app, req)
	if err != nil {
		return fmt.Errorf("promoting %s: %w", app, err)
	}
	failed := 0
	for _, t := range p.Targets {
		if t.Error != "" {
			failed++
		}
	}
	if wantJSON(c) {
		if err := printJSON(c, p); err != nil {
			return err
		}
	} else {
		t := newTable(c.App.Writer, "APP", "RELEASE", "STATUS", "DESCRIPTION")
		for _, tg := range p.Targets {
			status, desc := tg.Release.Status, tg.Release.Description
			if tg.Error != "" {
				status, desc = api.StatusFailed, tg.Error
			}
			t.row(tg.App, versionName(tg.Release.Version), status, desc)
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("the promotion of v%d of %s failed on %d of %d apps; each keeps its live release", p.Release, app, failed, len(p.Targets))
	}
	return nil
}
