package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent"
	"github.com/pierhq/pier/agent/backuptarget"
	"github.com/pierhq/pier/api"
)

// backupCommand is `pier backup create|list|verify|restore`.
func backupCommand() *ucli.Command {
	to := &ucli.StringFlag{Name: "to", Value: ".", Usage: "where the backups are: a `DIR`, s3://bucket/prefix (AWS_* environment variables: endpoint, region, credentials) or gs://bucket/prefix (Google's default credentials)"}
	pass := &ucli.StringFlag{Name: "passphrase-file", Usage: "`FILE` whose first line is the passphrase of encrypted backups (else " + agent.PassphraseEnv + ")"}
	return &ucli.Command{
		Name:  "backup",
		Usage: "back up the agent's state (apps, releases, config, tokens, slugs, git repositories) and restore it",
		Subcommands: []*ucli.Command{
			{Name: "create", Usage: "have the agent make a backup and write it to --to", Flags: clientFlags(to, pass,
				&ucli.BoolFlag{Name: "include-key", Usage: "put the secret key into the backup too, encrypted with the passphrase"},
			), Action: runBackupCreate},
			{Name: "list", Usage: "the backups in --to, newest first", Flags: clientFlags(to), Action: runBackupList},
			{Name: "verify", Usage: "re-hash every file of a backup (a path, or s3:// or gs://bucket/prefix/NAME) against its manifest", ArgsUsage: "FILE", Flags: clientFlags(pass), Action: runBackupVerify},
			{Name: "restore", Usage: "restore a backup into a data dir no agent uses (run on the machine itself)", ArgsUsage: "FILE",
				Flags: clientFlags(pass,
					&ucli.StringFlag{Name: "data-dir", Required: true, Usage: "the data dir to restore into: empty or absent"},
					&ucli.BoolFlag{Name: "force", Usage: "restore into a data dir that is not empty, moving what it holds aside"},
					&ucli.BoolFlag{Name: "without-key", Usage: "the secret key is lost: make a new one, keep everything else, and report the config vars whose values are lost"},
				), Action: runBackupRestore},
		},
	}
}

type backupJSON struct {
	File     string             `json:"file"`
	Manifest api.BackupManifest `json:"manifest"`
}

// passphrase reads --passphrase-file, or PIER_BACKUP_PASSPHRASE.
func passphrase(c *ucli.Context) (string, error) {
	return agent.BackupPassphrase(c.String("passphrase-file"), os.Getenv)
}

// backupArg is the backup a command's FILE argument names.
type backupArg struct {
	loc, file  string // as given (a path or an s3:// URL); a local file
	passphrase string
	done       func() // removes file when it was downloaded
}

// fetchBackup reads the passphrase and makes the FILE argument a local
// file.
func fetchBackup(c *ucli.Context) (backupArg, error) {
	var b backupArg
	var err error
	if b.passphrase, err = passphrase(c); err != nil {
		return b, err
	}
	if b.loc, err = oneFile(c); err != nil {
		return b, err
	}
	b.file, b.done, err = backuptarget.Fetch(c.Context, b.loc, backuptarget.Options{})
	return b, err
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
