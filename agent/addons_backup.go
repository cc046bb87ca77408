package agent

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pierhq/pier/addons"
	"github.com/pierhq/pier/api"
)

// Add-ons in pier's backups (pier backup create, restore): the servers'
// files stay out; a fresh pg_dump of every PostgreSQL add-on goes in with
// its kept backups, and a fresh snapshot of every Redis add-on, under
// addon-backups/ADDON/. An agent that starts on a restored data dir finds
// add-ons in its store with no server, makes each a new one with its
// password (on its old port when free) and loads its newest backup (a
// Redis server starts from its snapshot).

// redisSnapshot is the file of a Redis add-on's snapshot under its
// backups: the one the last pier backup took.
const redisSnapshot = "redis.rdb"

// snapshotTimeout bounds the transfer of a Redis add-on's snapshot.
const snapshotTimeout = 10 * time.Minute

// backupAddons captures a backup of every add-on and adds the kept
// backups of every add-on to the archive. An add-on that cannot be backed
// up now (its server down, its password changed) does not fail pier's
// backup, which holds every app's state: what the add-on's earlier
// backups left goes in instead, and warn says so, naming it.
func (a *Agent) backupAddons(ctx context.Context, tw *tar.Writer, add func(src, name string) error, warn func(string)) error {
	recs, err := a.store.ListAddons()
	if err != nil {
		return err
	}
	if err := addDir(tw, "addon-backups"); err != nil {
		return err
	}
	if a.addons != nil && a.addons.mgr == nil {
		return nil // on Nomad pier does not reach the servers: their data stays in their volumes
	}
	for _, rec := range recs {
		if err := ctx.Err(); err != nil {
			return err
		}
		warn := func(w string) {
			warn(w)
			a.events.add(rec.App, api.EventAddonBackupStale, "", "pier backup: %s", w)
		}
		if rec.Type == api.AddonRedis {
			p, err := a.snapshotRedis(ctx, rec)
			if err != nil {
				p = filepath.Join(a.dirs.addonBackups(rec.Name), redisSnapshot)
				if !isRegular(p) {
					warn(fmt.Sprintf("add-on %s is not in this backup: no snapshot could be taken (%v), and no earlier one is kept", rec.Name, err))
					continue
				}
				fi, _ := os.Stat(p)
				warn(fmt.Sprintf("add-on %s: no snapshot could be taken (%v); the one of %s went in instead", rec.Name, err, fi.ModTime().UTC().Format(time.RFC3339)))
			}
			if err := addDir(tw, "addon-backups/"+rec.Name); err != nil {
				return err
			}
			if err := add(p, "addon-backups/"+rec.Name+"/"+redisSnapshot); err != nil {
				return err
			}
			continue
		}
		captureErr := func() error { _, err := a.capture(ctx, rec, "pier backup"); return err }()
		bs, err := a.pgBackups(rec.Name)
		if err != nil {
			return err
		}
		if captureErr != nil {
			if len(bs) == 0 {
				warn(fmt.Sprintf("add-on %s is not in this backup: no dump could be taken (%v), and no earlier one is kept", rec.Name, captureErr))
				continue
			}
			warn(fmt.Sprintf("add-on %s: no dump could be taken (%v); its backup %s of %s went in instead", rec.Name, captureErr, bs[len(bs)-1].ID, bs[len(bs)-1].CreatedAt.UTC().Format(time.RFC3339)))
		}
		if err := addDir(tw, "addon-backups/"+rec.Name); err != nil {
			return err
		}
		for _, b := range bs {
			p := filepath.Join(a.dirs.addonBackups(rec.Name), b.ID+".dump")
			if err := add(p, "addon-backups/"+rec.Name+"/"+b.ID+".dump"); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreAddons gives every add-on of the store that has no server here a
// new one, with its password, and loads its newest backup. It runs after
// a start; an app whose add-on came back on another port gets the new URL
// in a new release.
func (a *Agent) restoreAddons(ctx context.Context) {
	if a.addons.mgr == nil {
		return
	}
	recs, err := a.store.ListAddons()
	if err != nil {
		a.logf("restoring add-ons: %v", err)
		return
	}
	for _, rec := range recs {
		if _, err := a.addons.mgr.Get(rec.Name); !errors.Is(err, addons.ErrNotFound) {
			continue
		}
		if rec.Port == 0 {
			// A create the agent stopped in before its server ran: it
			// never reached an app, and goes.
			if err := a.addons.destroyServer(rec.Name); err != nil {
				a.logf("removing the unfinished add-on %s: %v", rec.Name, err)
			}
			continue
		}
		if err := a.restoreAddon(ctx, rec); err != nil {
			a.events.add(rec.App, api.EventAddonServer, "", "Add-on %s has no server on this host and could not be made again: %v", rec.Name, err)
		}
	}
}

func (a *Agent) restoreAddon(ctx context.Context, rec api.Addon) error {
	pw, err := a.store.AddonPassword(rec.Name)
	if err != nil {
		return err
	}
	// What a crash left of a server that was being made goes first.
	if err := os.RemoveAll(filepath.Join(a.dirs.addons, rec.Name)); err != nil {
		return err
	}
	msg := "made again, empty"
	var seed string
	if p := filepath.Join(a.dirs.addonBackups(rec.Name), redisSnapshot); rec.Type == api.AddonRedis && isRegular(p) {
		seed, msg = p, "made again from the snapshot of the last pier backup"
	}
	srv, err := a.addons.mgr.Create(ctx, addons.Spec{Name: rec.Name, Type: rec.Type, Version: rec.Version,
		User: identityOf(rec.UID), Password: pw, Port: rec.Port, Seed: seed, Listen: rec.Listen})
	if err != nil {
		return err
	}
	if rec.Type == api.AddonPostgres {
		if bs, _ := a.pgBackups(rec.Name); len(bs) > 0 {
			newest := bs[len(bs)-1]
			p := filepath.Join(a.dirs.addonBackups(rec.Name), newest.ID+".dump")
			if err := a.pgRestore(ctx, srv, pw, p, false); err != nil {
				return fmt.Errorf("loading backup %s: %w", newest.ID, err)
			}
			msg = "made again from backup " + newest.ID
		}
	}
	a.events.add(rec.App, api.EventAddonServer, "", "Add-on %s: %s", rec.Name, msg)
	if srv.Port == rec.Port {
		return nil
	}
	if _, err := a.store.UpdateAddon(rec.Name, func(x *api.Addon) error { x.Port = srv.Port; return nil }); err != nil {
		return err
	}
	url := addons.URL(srv, pw)
	for _, at := range rec.Attachments {
		if _, err := a.deploy.updateConfig(ctx, at.App, map[string]*string{at.Var: &url}, "pier", io.Discard); err != nil {
			a.logf("setting %s of %s to the new address of %s: %v", at.Var, at.App, rec.Name, err)
		}
	}
	return nil
}

// snapshotRedis takes a snapshot of a Redis add-on's data with
// `redis-cli --rdb` (the server forks and streams an RDB file, as to a
// replica, while it keeps serving) into its backups' directory, in a file
// that appears whole or not at all, and returns its path.
func (a *Agent) snapshotRedis(ctx context.Context, rec api.Addon) (string, error) {
	srv, pw, err := a.addons.server(rec)
	if err != nil {
		return "", err
	}
	dir := a.dirs.addonBackups(rec.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return "", err
	}
	f.Close()
	defer os.Remove(f.Name())
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	var out strings.Builder
	code, err := a.addons.mgr.Client(ctx, srv, addons.ConnOf(srv, pw), "redis-cli",
		append(addons.RedisArgs(srv), "--rdb", f.Name()), nil, &out)
	if err == nil && code != 0 {
		err = fmt.Errorf("redis-cli --rdb exited with status %d: %s", code, strings.TrimSpace(out.String()))
	}
	if err != nil {
		return "", fmt.Errorf("taking a snapshot of %s: %w", rec.Name, err)
	}
	if err := syncFile(f.Name()); err != nil {
		return "", err
	}
	p := filepath.Join(dir, redisSnapshot)
	if err := os.Rename(f.Name(), p); err != nil {
		return "", err
	}
	return p, nil
}

func isRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}
