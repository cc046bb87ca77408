package cli

import (
	"fmt"
	"sort"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func tokensCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "tokens",
		Usage: "API tokens (for the CLI, CI and git over HTTP)",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			{
				Name: "create", Usage: "create a token with a role, for some apps or all; its secret is shown once", ArgsUsage: "NAME",
				Flags:  clientFlags(grantFlags("token")...),
				Action: runTokensCreate,
			},
			{Name: "revoke", Usage: "revoke a token", ArgsUsage: "ID", Flags: clientFlags(), Action: runTokensRevoke},
			{Name: "list", Usage: "list the tokens (never their secrets)", Flags: clientFlags(), Action: runTokensList},
			{Name: "rotate-admin", Usage: "make a new admin token, revoke the old one and write the new one to the agent's admin.token; its secret is shown once", Flags: clientFlags(), Action: runTokensRotateAdmin},
		},
	}
}

func runTokensCreate(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return fmt.Errorf("give the token a name: pier tokens create --role admin|deploy|read [--app APP] [--expires 90d] NAME")
	}
	g, err := grantOf(c)
	if err != nil {
		return err
	}
	req := api.TokenRequest{Name: as[0], Grant: g}
	if e := c.String("expires"); e != "" {
		d, err := api.ParseDuration(e)
		if err != nil || d <= 0 {
			return fmt.Errorf("--expires %s: give a duration such as 90d, 12h or 30m", e)
		}
		req.ExpiresIn = api.Duration(d)
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	t, err := cl.CreateToken(c.Context, req)
	if err != nil {
		return fmt.Errorf("creating token %s: %w", as[0], err)
	}
	if wantJSON(c) {
		return printJSON(c, t)
	}
	fmt.Fprintln(c.App.Writer, t.Secret)
	fmt.Fprintf(c.App.ErrWriter, "Created token %s (%s, %s on %s%s). Store the secret above now: it is not shown again.\n", t.ID, t.Name, t.Role, appsText(t.Apps), expiryText(t.ExpiresAt))
	return nil
}

func runTokensRevoke(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return fmt.Errorf("give the token's ID, as listed by `pier tokens list`")
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	if err := cl.RevokeToken(c.Context, as[0]); err != nil {
		return fmt.Errorf("revoking token %s: %w", as[0], err)
	}
	fmt.Fprintf(c.App.ErrWriter, "Revoked token %s.\n", as[0])
	return nil
}

func runTokensRotateAdmin(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 0 {
		return fmt.Errorf("pier tokens rotate-admin takes no arguments")
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	t, err := cl.RotateAdminToken(c.Context)
	if err != nil {
		return fmt.Errorf("rotating the admin token: %w", err)
	}
	if wantJSON(c) {
		return printJSON(c, t)
	}
	fmt.Fprintln(c.App.Writer, t.Secret)
	fmt.Fprintf(c.App.ErrWriter, "Created admin token %s and revoked the old one; the agent's admin.token holds the new one. Store the secret above now where you used the old one (PIER_TOKEN, pier login): it is not shown again.\n", t.ID)
	return nil
}

func runTokensList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	ts, err := cl.Tokens(c.Context)
	if err != nil {
		return err
	}
	if ts == nil {
		ts = []api.Token{}
	}
	sort.Slice(ts, func(i, j int) bool { return ts[i].CreatedAt.Before(ts[j].CreatedAt) })
	if wantJSON(c) {
		return printJSON(c, ts)
	}
	t := newTable(c.App.Writer, "ID", "NAME", "ROLE", "APPS", "EXPIRES", "CREATED")
	for _, tk := range ts {
		t.row(tk.ID, tk.Name, tk.Role, appsText(tk.Apps), expiresColumn(tk.ExpiresAt), ago(tk.CreatedAt, now()))
	}
	return t.flush()
}

// grantFlags are the flags that give a token or an SSH key its role and
// apps; tokens also take --expires.
func grantFlags(what string) []ucli.Flag {
	fs := []ucli.Flag{
		&ucli.StringFlag{Name: "role", Usage: "what the " + what + " may do: read (look), deploy (push, config, scale, rollback, restart, run) or admin (everything); required"},
		&ucli.StringSliceFlag{Name: "app", Aliases: []string{"a"}, Usage: "limit the " + what + " to this app (repeat for more; default: every app)"},
	}
	if what == "token" {
		fs = append(fs, &ucli.StringFlag{Name: "expires", Usage: "end the token after this long (90d, 12h); default: until revoked"})
	}
	return fs
}

// grantOf reads --role and --app.
func grantOf(c *ucli.Context) (api.Grant, error) {
	role := c.String("role")
	if role == "" {
		return api.Grant{}, fmt.Errorf("give a role: --role read, deploy or admin (see docs/security.md)")
	}
	var apps []string
	for _, a := range c.StringSlice("app") {
		for _, s := range strings.Split(a, ",") {
			if s = strings.TrimSpace(s); s != "" {
				apps = append(apps, s)
			}
		}
	}
	return api.Grant{Role: role, Apps: apps}, nil
}

// appsText shows a grant's apps.
func appsText(apps []string) string {
	if len(apps) == 0 {
		return "all apps"
	}
	return strings.Join(apps, ",")
}

func expiryText(at *time.Time) string {
	if at == nil {
		return ""
	}
	return ", expires " + at.Local().Format(time.RFC3339)
}

func expiresColumn(at *time.Time) string {
	switch {
	case at == nil:
		return "never"
	case !at.After(now()):
		return "expired " + at.Local().Format("2006-01-02 15:04")
	}
	return at.Local().Format("2006-01-02 15:04")
}
