package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pierhq/pier/agent/backuptarget"
	"github.com/pierhq/pier/api"
)

// SaveBackup writes a backup called name into tg with write, verifies what
// was written (with passphrase when it is encrypted) and only then lets it
// appear under its name. A failure (a full disk, a cut stream, a backup
// that does not verify) leaves nothing in tg and no backup there changed.
func SaveBackup(ctx context.Context, tg backuptarget.Target, name, passphrase string, write func(io.Writer) error) (api.BackupManifest, error) {
	p, err := tg.Create(ctx, name)
	if err != nil {
		return api.BackupManifest{}, err
	}
	defer p.Cleanup()
	if err := write(p); err != nil {
		return api.BackupManifest{}, fmt.Errorf("writing the backup to %s (nothing was kept): %w", tg, err)
	}
	m, err := VerifyBackup(p.Path(), passphrase)
	if err != nil {
		return m, fmt.Errorf("the backup did not verify, nothing was kept: %w", err)
	}
	if err := p.Commit(ctx); err != nil {
		return m, err
	}
	return m, nil
}

// backupTo makes a backup into tg as the agent: the scheduled backups.
func (a *Agent) backupTo(ctx context.Context, tg backuptarget.Target, req api.BackupRequest) (string, api.BackupManifest, error) {
	name := backuptarget.Name(time.Now(), req.Passphrase != "")
	m, err := SaveBackup(ctx, tg, name, req.Passphrase, func(w io.Writer) error {
		snap, err := a.snapshot()
		if err != nil {
			return err
		}
		defer os.Remove(snap)
		return a.writeArchive(ctx, snap, req, w)
	})
	return name, m, err
}
