package cli

import (
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

// secretsCommand is `pier secrets rotate-key`.
func secretsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "secrets",
		Usage: "the key that encrypts config vars at rest",
		Subcommands: []*ucli.Command{
			{Name: "rotate-key", Usage: "re-encrypt every config value under a new key; the old key is gone once it finishes", Flags: clientFlags(), Action: runSecretsRotateKey},
		},
	}
}

func runSecretsRotateKey(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 0 {
		return fmt.Errorf("pier secrets rotate-key takes no arguments")
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	res, err := cl.RotateKey(c.Context)
	if err != nil {
		return fmt.Errorf("rotating the secret key: %w", err)
	}
	if wantJSON(c) {
		return printJSON(c, res)
	}
	fmt.Fprintf(c.App.ErrWriter, "Re-encrypted %d values under a new secret key; the old key is gone. Back up the data dir's secret.key again.\n", res.Resealed)
	return nil
}
