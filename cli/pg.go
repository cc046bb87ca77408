package cli

import (
	"fmt"
	"io"
	"net/url"

	ucli "github.com/urfave/cli/v2"
)

func addonFlag() *ucli.StringFlag {
	return &ucli.StringFlag{Name: "addon", Usage: "which add-on, when the app has several (default: the one in DATABASE_URL)"}
}

func pgCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "pg",
		Usage: "the app's PostgreSQL add-on: psql, info, backups",
		Subcommands: []*ucli.Command{
			{
				Name:  "psql",
				Usage: "a psql session on the app's database, through the agent",
				Description: "Without -c, psql reads SQL from standard input as you type it or as a\n" +
					"file pipes it (pier pg psql -a APP < schema.sql).",
				Flags:  appFlags(addonFlag(), &ucli.StringFlag{Name: "command", Aliases: []string{"c"}, Usage: "run one `SQL` command and exit"}),
				Action: runPgPsql,
			},
			{Name: "info", Usage: "size, connections and version of the app's PostgreSQL add-ons", Flags: appFlags(), Action: runPgInfo},
			pgBackupsCommand(),
		},
		Action: groupAction,
	}
}

func runPgPsql(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	q := url.Values{}
	if a := c.String("addon"); a != "" {
		q.Set("addon", a)
	}
	var stdin io.Reader = c.App.Reader
	if cmd := c.String("command"); cmd != "" {
		q.Set("command", cmd)
		stdin = nil
	}
	return sessionExit(cl.Session(c.Context, app, "pg/psql", q, stdin, c.App.Writer))
}

// sessionExit passes on the exit code of a psql or redis-cli session.
func sessionExit(code int, err error) error {
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitError{code: code}
	}
	return nil
}

func runPgInfo(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	infos, err := cl.PgInfo(c.Context, app)
	if err != nil {
		return fmt.Errorf("reading the databases of %s: %w", app, err)
	}
	if wantJSON(c) {
		return printJSON(c, infos)
	}
	w := c.App.Writer
	for _, i := range infos {
		fmt.Fprintf(w, "=== %s\n", i.Addon)
		fmt.Fprintf(w, "State:       %s\n", i.State)
		fmt.Fprintf(w, "Version:     %s\n", i.Version)
		fmt.Fprintf(w, "Data size:   %s\n", byteSize(i.SizeBytes))
		fmt.Fprintf(w, "Tables:      %d\n", i.Tables)
		fmt.Fprintf(w, "Connections: %d/%d\n", i.Connections, i.MaxConnections)
	}
	return nil
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
