package cli

import (
	"fmt"
	"io"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent"
	"github.com/pierhq/pier/agent/backuptarget"
	"github.com/pierhq/pier/api"
)

const secretKeyNote = "The secret key is not in the backup: keep the data dir's secret.key (or PIER_SECRET_KEY) safe apart from it; without it config vars cannot be decrypted."

// runBackupCreate has the agent stream a backup, writes it aside in the
// target, verifies it and only then lets it appear under its name.
func runBackupCreate(c *ucli.Context) error {
	if as, err := args(c); err != nil || len(as) != 0 {
		return fmt.Errorf("pier backup create takes no arguments (%v)", err)
	}
	pass, err := passphrase(c)
	if err != nil {
		return err
	}
	req := api.BackupRequest{IncludeKey: c.Bool("include-key"), Passphrase: pass}
	if req.IncludeKey && pass == "" {
		return fmt.Errorf("--include-key puts the secret key into the backup, so it is encrypted: give a passphrase with --passphrase-file FILE or %s", agent.PassphraseEnv)
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	tg, err := backuptarget.Open(c.Context, c.String("to"), backuptarget.Options{})
	if err != nil {
		return err
	}
	name := backuptarget.Name(time.Now(), pass != "")
	progress(c, "Backing up the pier agent to %s as %s... ", tg, name)
	m, err := agent.SaveBackup(c.Context, tg, name, pass, func(w io.Writer) error { return cl.Backup(c.Context, req, w) })
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("backing up: %w", err)
	}
	progress(c, "done\n")
	loc := location(c.Context, tg, name)
	if wantJSON(c) {
		return printJSON(c, backupJSON{File: loc, Manifest: m})
	}
	fmt.Fprintf(c.App.Writer, "%s\t%d apps, %d slugs, %d files\n", loc, len(m.Apps), m.Slugs, len(m.Files))
	for _, w := range m.Warnings {
		fmt.Fprintf(c.App.ErrWriter, "Warning: %s\n", w)
	}
	switch {
	case m.KeyIncluded:
		fmt.Fprintln(c.App.ErrWriter, "The secret key is in the backup, encrypted with the passphrase with the rest: keep the passphrase apart from it.")
	case pass != "":
		fmt.Fprintln(c.App.ErrWriter, "The backup is encrypted with the passphrase. "+secretKeyNote)
	default:
		fmt.Fprintln(c.App.ErrWriter, secretKeyNote)
	}
	return nil
}
