package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func addonsCreateCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "create",
		Usage: "create a PostgreSQL or Redis add-on for the app; sets DATABASE_URL or REDIS_URL (a new release)",
		Description: "The add-on is named APP-TYPE unless --name says otherwise. Its URL goes in\n" +
			"DATABASE_URL (postgres) or REDIS_URL (redis), or AS_URL with --as AS, or\n" +
			"NAME_URL when the app already has the default one.",
		ArgsUsage: "postgres|redis",
		Flags: appFlags(
			&ucli.StringFlag{Name: "as", Usage: "the config var is `AS`_URL"},
			&ucli.StringFlag{Name: "name", Usage: "the add-on's `NAME` (default APP-TYPE)"},
			&ucli.StringFlag{Name: "version", Usage: "the server's major `VERSION` (default: the newest installed)"},
			&ucli.StringFlag{Name: "listen", Usage: "an `IP` of the agent's host to listen on beside 127.0.0.1, for apps on other hosts; the server then serves TLS only"},
		),
		Action: runAddonsCreate,
	}
}

func runAddonsCreate(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return fmt.Errorf("say which add-on: pier addons create postgres|redis -a APP")
	}
	typ := as[0]
	switch typ {
	case "postgresql", "heroku-postgresql", "pg":
		typ = api.AddonPostgres
	case "heroku-redis", "key-value":
		typ = api.AddonRedis
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Creating %s for %s... ", typ, app)
	ch, err := cl.CreateAddon(c.Context, app, api.AddonCreateRequest{Type: typ, Name: c.String("name"), As: c.String("as"), Version: c.String("version"), Listen: c.String("listen")})
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("creating a %s add-on for %s: %w", typ, app, err)
	}
	progress(c, "done\n")
	if wantJSON(c) {
		return printJSON(c, ch)
	}
	at, _ := ch.Addon.AttachmentOf(app)
	fmt.Fprintf(c.App.Writer, "Created %s (%s %s) as %s\n", ch.Addon.Name, ch.Addon.Type, ch.Addon.Version, at.Var)
	printReleases(c, ch.Releases)
	return nil
}
