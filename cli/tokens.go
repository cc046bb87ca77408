package cli

import (
	"fmt"
	"sort"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/api"
)

func tokensCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "tokens",
		Usage: "API tokens (for the CLI, CI and git over HTTP)",
		Flags: clientFlags(),
		Subcommands: []*ucli.Command{
			{Name: "create", Usage: "create a token; its secret is shown once", ArgsUsage: "NAME", Flags: clientFlags(), Action: runTokensCreate},
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
		return fmt.Errorf("give the token a name: pier tokens create NAME")
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	t, err := cl.CreateToken(c.Context, as[0])
	if err != nil {
		return fmt.Errorf("creating token %s: %w", as[0], err)
	}
	if wantJSON(c) {
		return printJSON(c, t)
	}
	fmt.Fprintln(c.App.Writer, t.Secret)
	fmt.Fprintf(c.App.ErrWriter, "Created token %s (%s). Store the secret above now: it is not shown again.\n", t.ID, t.Name)
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
	t := newTable(c.App.Writer, "ID", "NAME", "CREATED")
	for _, tk := range ts {
		t.row(tk.ID, tk.Name, ago(tk.CreatedAt, now()))
	}
	return t.flush()
}
