package cli

import (
	"fmt"
	"os"

	"github.com/google/renameio/v2"
	ucli "github.com/urfave/cli/v2"
)

func pgBackupsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "backups",
		Usage: "backups of the app's database (pg_dump's custom format), kept by the agent",
		Flags: appFlags(addonFlag()),
		Subcommands: []*ucli.Command{
			{Name: "capture", Usage: "back the database up now; the app keeps running", Flags: appFlags(addonFlag()), Action: runPgBackupsCapture},
			{Name: "list", Usage: "list the database's backups", Flags: appFlags(addonFlag()), Action: runPgBackupsList},
			{
				Name: "download", Usage: "write a backup to a file (pg_restore reads it)", ArgsUsage: "[BACKUP]",
				Flags:  appFlags(addonFlag(), &ucli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "the `FILE` (default: BACKUP.dump)"}),
				Action: runPgBackupsDownload,
			},
			{
				Name: "restore", Usage: "replace the database's tables with a backup's, in one transaction", ArgsUsage: "BACKUP",
				Flags: appFlags(addonFlag(),
					&ucli.StringFlag{Name: "from", Usage: "a backup of another `APP`'s database"},
					&ucli.StringFlag{Name: "confirm", Usage: "the `APP`'s name again, to confirm"}),
				Action: runPgBackupsRestore,
			},
		},
		Action: runPgBackupsList,
	}
}

func runPgBackupsCapture(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	progress(c, "Capturing a backup of %s's database... ", app)
	b, err := cl.CapturePgBackup(c.Context, app, c.String("addon"))
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("backing up %s: %w", app, err)
	}
	progress(c, "done\n")
	if wantJSON(c) {
		return printJSON(c, b)
	}
	fmt.Fprintf(c.App.Writer, "Captured %s of %s (%s)\n", b.ID, b.Addon, byteSize(b.SizeBytes))
	return nil
}

func runPgBackupsList(c *ucli.Context) error {
	if _, err := args(c); err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	bs, err := cl.PgBackups(c.Context, app, c.String("addon"))
	if err != nil {
		return fmt.Errorf("listing the backups of %s: %w", app, err)
	}
	if wantJSON(c) {
		return printJSON(c, bs)
	}
	if len(bs) == 0 {
		fmt.Fprintf(c.App.ErrWriter, "No backups yet: pier pg backups capture -a %s\n", app)
		return nil
	}
	t := newTable(c.App.Writer, "ID", "ADDON", "SIZE", "CREATED")
	for i := len(bs) - 1; i >= 0; i-- {
		b := bs[i]
		t.row(b.ID, b.Addon, byteSize(b.SizeBytes), b.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	}
	return t.flush()
}

func runPgBackupsDownload(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	var id string
	switch len(as) {
	case 0:
		bs, err := cl.PgBackups(c.Context, app, c.String("addon"))
		if err != nil {
			return fmt.Errorf("listing the backups of %s: %w", app, err)
		}
		if len(bs) == 0 {
			return fmt.Errorf("%s has no backups: pier pg backups capture -a %s", app, app)
		}
		id = bs[len(bs)-1].ID
	case 1:
		id = as[0]
	default:
		return fmt.Errorf("give one backup: pier pg backups download -a APP [BACKUP]")
	}
	path := c.String("output")
	if path == "" {
		path = id + ".dump"
	}
	f, err := renameio.NewPendingFile(path, renameio.WithPermissions(0o600))
	if err != nil {
		return err
	}
	defer f.Cleanup()
	if err := cl.DownloadPgBackup(c.Context, app, c.String("addon"), id, f); err != nil {
		return fmt.Errorf("downloading %s of %s: %w", id, app, err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return err
	}
	fi, _ := os.Stat(path)
	if fi != nil {
		fmt.Fprintf(c.App.ErrWriter, "Wrote %s (%s)\n", path, byteSize(fi.Size()))
	}
	return nil
}

func runPgBackupsRestore(c *ucli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return fmt.Errorf("give one backup: pier pg backups restore -a APP BACKUP --confirm APP (pier pg backups list shows them)")
	}
	cl, app, err := appClient(c)
	if err != nil {
		return err
	}
	if confirm := c.String("confirm"); confirm != app {
		return fmt.Errorf("restoring %s replaces the tables of %s's database: confirm with --confirm %s", as[0], app, app)
	}
	progress(c, "Restoring %s into %s's database... ", as[0], app)
	if err := cl.RestorePgBackup(c.Context, app, c.String("addon"), as[0], c.String("from")); err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("restoring %s: %w", as[0], err)
	}
	progress(c, "done\n")
	return nil
}
