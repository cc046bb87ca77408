package cli

import (
	"fmt"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent"
)

func runBackupVerify(c *ucli.Context) error {
	b, err := fetchBackup(c)
	if err != nil {
		return err
	}
	defer b.done()
	loc := b.loc
	m, err := agent.VerifyBackup(b.file, b.passphrase)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		return printJSON(c, backupJSON{File: loc, Manifest: m})
	}
	key := "without the secret key"
	if m.KeyIncluded {
		key = "with the secret key"
	}
	fmt.Fprintf(c.App.Writer, "%s is good: %d files match their SHA-256; pier %s, store schema v%d, made %s, %s; apps: %s\n",
		loc, len(m.Files), m.PierVersion, m.SchemaVersion, m.Created.Format(time.RFC3339), key, strings.Join(m.Apps, ", "))
	return nil
}
