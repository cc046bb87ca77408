package cli

import (
	"context"
	"strconv"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/pierhq/pier/agent/backuptarget"
)

// runBackupList lists the complete backups in --to, newest first.
func runBackupList(c *ucli.Context) error {
	tg, err := backuptarget.Open(c.Context, c.String("to"), backuptarget.Options{})
	if err != nil {
		return err
	}
	list, err := tg.List(c.Context)
	if err != nil {
		return err
	}
	if wantJSON(c) {
		if list == nil {
			list = []backuptarget.Backup{}
		}
		return printJSON(c, list)
	}
	t := newTable(c.App.Writer, "FILE", "SIZE", "MADE", "ENCRYPTED")
	for _, b := range list {
		t.row(b.Location, strconv.FormatInt(b.Size, 10), b.Time.Format(time.RFC3339), strconv.FormatBool(b.Encrypted))
	}
	return t.flush()
}

// location is where the backup called name is in tg, as List shows it.
func location(ctx context.Context, tg backuptarget.Target, name string) string {
	list, err := tg.List(ctx)
	if err == nil {
		for _, b := range list {
			if b.Name == name {
				return b.Location
			}
		}
	}
	return tg.String() + "/" + name
}
