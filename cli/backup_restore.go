package cli

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent"
)

type restoreJSON struct {
	backupJSON
	KeyRestored bool                `json:"key_restored"`
	Lost        map[string][]string `json:"lost_config,omitempty"`
	// NamesUnknown: an older backup names no config vars.
	NamesUnknown bool `json:"lost_config_names_unknown,omitempty"`
}

func runBackupRestore(c *ucli.Context) error {
	b, err := fetchBackup(c)
	if err != nil {
		return err
	}
	defer b.done()
	loc, dir := b.loc, c.String("data-dir")
	res, err := agent.RestoreBackup(b.file, dir, agent.RestoreOptions{Force: c.Bool("force"), Passphrase: b.passphrase, WithoutKey: c.Bool("without-key")})
	if err != nil {
		return fmt.Errorf("restoring %s: %w", loc, err)
	}
	m := res.Manifest
	if wantJSON(c) {
		return printJSON(c, restoreJSON{backupJSON: backupJSON{File: loc, Manifest: m}, KeyRestored: res.KeyRestored, Lost: res.Lost, NamesUnknown: res.NamesUnknown})
	}
	w, ew := c.App.Writer, c.App.ErrWriter
	fmt.Fprintf(w, "Restored %d apps (%s) into %s.\n", len(m.Apps), strings.Join(m.Apps, ", "), dir)
	switch {
	case res.KeyRestored:
		fmt.Fprintf(ew, "The secret key was in the backup and is restored. Next: start `pier agent --data-dir %s`.\n", dir)
	case c.Bool("without-key"):
		fmt.Fprintln(w, "A new secret key was made; config values sealed with the lost key are gone.")
		switch {
		case res.NamesUnknown:
			fmt.Fprintln(w, "The backup was made by an older pier that did not name the config vars: every config value is lost, and which names they had is not known.")
		case len(res.Lost) == 0:
			fmt.Fprintln(w, "No app had config vars: nothing was lost.")
		}
		for _, app := range slices.Sorted(maps.Keys(res.Lost)) {
			fmt.Fprintf(w, "%s: could not decrypt %s\n", app, strings.Join(res.Lost[app], ", "))
		}
		fmt.Fprintf(ew, "Next: start `pier agent --data-dir %s`; the apps serve without those vars. Set them again with `pier config set -a APP NAME=VALUE`; `pier config -a APP` lists the ones still missing.\n", dir)
	default:
		fmt.Fprintf(ew, "Next: copy the old secret.key into %s (mode 0600), or set PIER_SECRET_KEY, then start `pier agent --data-dir %s`.\n", dir, dir)
		fmt.Fprintln(ew, "If the key is lost, restore again with --without-key (and --force): everything but the config values comes back.")
	}
	return nil
}
