package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/renameio/v2"
	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent"
	"github.com/pierhq/pier/api"
)

// backupCommand is `pier backup create|list|verify|restore`.
func backupCommand() *ucli.Command {
	to := &ucli.StringFlag{Name: "to", Value: ".", Usage: "the directory that holds the backups"}
	return &ucli.Command{
		Name:  "backup",
		Usage: "back up the agent's state (apps, releases, config, tokens, slugs, git repositories) and restore it",
		Subcommands: []*ucli.Command{
			{Name: "create", Usage: "have the agent make a backup and write it to --to", Flags: clientFlags(to), Action: runBackupCreate},
			{Name: "list", Usage: "the backups in --to, newest first", Flags: clientFlags(to), Action: runBackupList},
			{Name: "verify", Usage: "re-hash every file of a backup against its manifest", ArgsUsage: "FILE", Flags: clientFlags(), Action: runBackupVerify},
			{Name: "restore", Usage: "restore a backup into a data dir no agent uses (run on the machine itself)", ArgsUsage: "FILE",
				Flags: clientFlags(
					&ucli.StringFlag{Name: "data-dir", Required: true, Usage: "the data dir to restore into: empty or absent"},
					&ucli.BoolFlag{Name: "force", Usage: "restore into a data dir that is not empty, moving what it holds aside"},
				), Action: runBackupRestore},
		},
	}
}

const secretKeyNote = "The secret key is not in the backup: keep the data dir's secret.key (or PIER_SECRET_KEY) safe apart from it; without it config vars cannot be decrypted."

func runBackupCreate(c *ucli.Context) error {
	if as, err := args(c); err != nil || len(as) != 0 {
		return fmt.Errorf("pier backup create takes no arguments (%v)", err)
	}
	cl, err := newClient()
	if err != nil {
		return err
	}
	dir := c.String("to")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	name := filepath.Join(dir, "pier-backup-"+time.Now().UTC().Format("20060102T150405Z")+".tar.gz")
	f, err := renameio.NewPendingFile(name, renameio.WithPermissions(0o600))
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	defer f.Cleanup()
	progress(c, "Backing up the pier agent to %s... ", name)
	if err := cl.Backup(c.Context, f); err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("backing up: %w", err)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	m, err := agent.VerifyBackup(f.Name())
	if err != nil {
		progress(c, "failed\n")
		return fmt.Errorf("the agent's backup did not verify, nothing was written: %w", err)
	}
	if err := f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	progress(c, "done\n")
	if wantJSON(c) {
		return printJSON(c, backupJSON{File: name, Manifest: m})
	}
	fmt.Fprintf(c.App.Writer, "%s\t%d apps, %d slugs, %d files\n", name, len(m.Apps), m.Slugs, len(m.Files))
	fmt.Fprintln(c.App.ErrWriter, secretKeyNote)
	return nil
}

type backupJSON struct {
	File     string             `json:"file"`
	Manifest api.BackupManifest `json:"manifest"`
}

func runBackupList(c *ucli.Context) error {
	dir := c.String("to")
	names, err := filepath.Glob(filepath.Join(dir, "pier-backup-*.tar.gz"))
	if err != nil {
		return err
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names))) // the names hold the time
	type entry struct {
		File string    `json:"file"`
		Size int64     `json:"size"`
		Time time.Time `json:"time"`
	}
	var list []entry
	for _, n := range names {
		fi, err := os.Stat(n)
		if err != nil {
			continue
		}
		list = append(list, entry{File: n, Size: fi.Size(), Time: fi.ModTime().UTC()})
	}
	if wantJSON(c) {
		return printJSON(c, list)
	}
	t := newTable(c.App.Writer, "FILE", "SIZE", "MADE")
	for _, e := range list {
		t.row(e.File, strconv.FormatInt(e.Size, 10), e.Time.Format(time.RFC3339))
	}
	return t.flush()
}

func oneFile(c *ucli.Context) (string, error) {
	as, err := args(c)
	if err != nil {
		return "", err
	}
	if len(as) != 1 {
		return "", fmt.Errorf("usage: %s FILE", helpName(c))
	}
	return as[0], nil
}

func runBackupVerify(c *ucli.Context) error {
	file, err := oneFile(c)
	if err != nil {
		return err
	}
	m, err := agent.VerifyBackup(file)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, backupJSON{File: file, Manifest: m})
	}
	fmt.Fprintf(c.App.Writer, "%s is good: %d files match their SHA-256; pier %s, store schema v%d, made %s; apps: %s\n",
		file, len(m.Files), m.PierVersion, m.SchemaVersion, m.Created.Format(time.RFC3339), strings.Join(m.Apps, ", "))
	return nil
}

func runBackupRestore(c *ucli.Context) error {
	file, err := oneFile(c)
	if err != nil {
		return err
	}
	dir := c.String("data-dir")
	m, err := agent.RestoreBackup(file, dir, c.Bool("force"))
	if err != nil {
		return fmt.Errorf("restoring %s: %w", file, err)
	}
	if wantJSON(c) {
		return printJSON(c, backupJSON{File: file, Manifest: m})
	}
	fmt.Fprintf(c.App.Writer, "Restored %d apps (%s) into %s.\n", len(m.Apps), strings.Join(m.Apps, ", "), dir)
	fmt.Fprintf(c.App.ErrWriter, "Next: copy the old secret.key into %s (mode 0600), or set PIER_SECRET_KEY, then start `pier agent --data-dir %s`.\n", dir, dir)
	return nil
}
