package agent

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// A backup is one tar.gz: pier.db (a snapshot), the slugs of every release
// whose slug is kept (with their app.json), the git repositories, with
// --include-key secret.key, and manifest.json last, with the SHA-256 of
// every file before it. With a passphrase the whole tar.gz is encrypted
// (backup_crypt.go).

const manifestName = "manifest.json"

// backupExcluded is what a backup leaves out, and why.
var backupExcluded = []string{
	"secret.key, unless made with --include-key (keep it apart: without it config vars cannot be decrypted)",
	"admin.token (the store keeps the hashes of every token, so they still authenticate)",
	"cache/ (build caches refill on the next build)",
	"certs/ (certificates are issued again)",
	"tls-ticket-keys (new keys are made: clients make one full TLS handshake again)",
	"logs/, tmp/, local/ (what ran; a restored agent starts the live releases)",
	"addons/ (the add-on servers' files: each PostgreSQL add-on's data travels as a pg_dump, each Redis add-on's as an RDB snapshot, under addon-backups/, which a restored agent loads into a new server)",
	"buildpacks/ (third-party buildpacks and plugins: install them again)",
}

// postBackup streams a new backup archive to the client.
func (a *Agent) postBackup(w http.ResponseWriter, r *http.Request) error {
	var req api.BackupRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	if err := checkBackupRequest(req); err != nil {
		return err
	}
	snap, err := a.snapshot()
	if err != nil {
		return err
	}
	defer os.Remove(snap)
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	if err := a.writeArchive(r.Context(), snap, req, w); err != nil {
		// The archive stops without its manifest: the client's verify
		// refuses it.
		a.logf("backup: %v", err)
	}
	return nil
}

// checkBackupRequest refuses a key without a passphrase.
func checkBackupRequest(req api.BackupRequest) error {
	if req.IncludeKey && req.Passphrase == "" {
		return invalidf("--include-key puts the secret key into the backup, so it must be encrypted: give a passphrase with --passphrase-file FILE or %s", PassphraseEnv)
	}
	if req.Passphrase != "" && len(req.Passphrase) < minPassphrase {
		return invalidf("the backup passphrase is %d characters: give at least %d", len(req.Passphrase), minPassphrase)
	}
	return nil
}

// writeArchive writes the backup of snap to w, encrypted when req has a
// passphrase.
func (a *Agent) writeArchive(ctx context.Context, snap string, req api.BackupRequest, w io.Writer) error {
	if req.Passphrase == "" {
		return a.writeBackup(ctx, snap, req.IncludeKey, w)
	}
	ew, err := encryptTo(w, req.Passphrase)
	if err != nil {
		return err
	}
	if err := a.writeBackup(ctx, snap, req.IncludeKey, ew); err != nil {
		return err
	}
	return ew.Close()
}

// snapshot copies the store to a file under tmp/, so the archive is
// written with no transaction open.
func (a *Agent) snapshot() (string, error) {
	p := filepath.Join(a.dirs.tmp, fmt.Sprintf("backup-%s.db", randomHex(8)))
	if _, err := a.store.Snapshot(p); err != nil {
		return "", fmt.Errorf("taking a snapshot of the store: %w", err)
	}
	return p, nil
}

// writeBackup writes the archive to w: the snapshot at snap as pier.db,
// the kept slugs, the repositories, the key when includeKey, and the
// manifest.
func (a *Agent) writeBackup(ctx context.Context, snap string, includeKey bool, w io.Writer) error {
	m := api.BackupManifest{
		Format: api.BackupFormat, PierVersion: a.cfg.Version, SchemaVersion: store.SchemaVersion,
		Created: time.Now().UTC().Truncate(time.Second), Excluded: backupExcluded, KeyIncluded: includeKey,
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	add := func(src, name string) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := addFile(tw, src, name)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
		return nil
	}
	if err := add(snap, "pier.db"); err != nil {
		return err
	}
	if includeKey {
		a.keyMu.Lock()
		key := base64.StdEncoding.EncodeToString(a.key) + "\n"
		a.keyMu.Unlock()
		f, err := addBytes(tw, store.KeyFile, []byte(key), m.Created)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, f)
	}
	apps, err := a.store.ListApps()
	if err != nil {
		return err
	}
	if m.Config, err = a.configNames(apps); err != nil {
		return err
	}
	if err := addDir(tw, "slugs"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, app := range apps {
		m.Apps = append(m.Apps, app.Name)
		rels, err := a.store.ListReleases(app.Name)
		if err != nil {
			return err
		}
		for _, r := range rels {
			if r.SlugID == "" || seen[r.SlugID] {
				continue
			}
			seen[r.SlugID] = true
			slug := a.dirs.slugPath(r.SlugID)
			if _, err := os.Stat(slug); errors.Is(err, fs.ErrNotExist) {
				continue // pruned
			}
			if err := add(slug, "slugs/"+filepath.Base(slug)); err != nil {
				return err
			}
			m.Slugs++
			aj := slug[:len(slug)-len(".tar.gz")] + ".app.json"
			if _, err := os.Stat(aj); err == nil {
				if err := add(aj, "slugs/"+filepath.Base(aj)); err != nil {
					return err
				}
			}
		}
	}
	if err := addDir(tw, "repos"); err != nil {
		return err
	}
	for _, app := range apps {
		root := a.git.RepoDir(app.Name)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(a.dirs.repos, p)
			name := path.Join("repos", filepath.ToSlash(rel))
			switch {
			case d.IsDir():
				return addDir(tw, name)
			case d.Type().IsRegular():
				return add(p, name)
			}
			return nil // git writes no links in a bare repository
		})
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("backing up the repository of %s: %w", app.Name, err)
		}
	}
	warn := func(w string) {
		m.Warnings = append(m.Warnings, w)
		a.logf("backup: %s", w)
	}
	if err := a.backupAddons(ctx, tw, add, warn); err != nil {
		return err
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if _, err := addBytes(tw, manifestName, b, m.Created); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// configNames names each app's config vars, for a restore without the key
// to report.
func (a *Agent) configNames(apps []api.App) (map[string][]string, error) {
	names := map[string][]string{} // never nil: a backup that names none
	for _, app := range apps {
		vars, err := a.store.Config(app.Name)
		if err != nil {
			return nil, err
		}
		if len(vars) > 0 {
			names[app.Name] = slices.Sorted(maps.Keys(vars))
		}
	}
	return names, nil
}

// addBytes adds data to the archive as the file name, hashing it.
func addBytes(tw *tar.Writer, name string, data []byte, mod time.Time) (api.BackupFile, error) {
	h := &tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), ModTime: mod, Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(h); err != nil {
		return api.BackupFile{}, err
	}
	if _, err := tw.Write(data); err != nil {
		return api.BackupFile{}, err
	}
	sum := sha256.Sum256(data)
	return api.BackupFile{Path: name, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}, nil
}

func addDir(tw *tar.Writer, name string) error {
	return tw.WriteHeader(&tar.Header{Name: name + "/", Mode: 0o700, Typeflag: tar.TypeDir})
}

// addFile copies the file at src into the archive as name, hashing it.
func addFile(tw *tar.Writer, src, name string) (api.BackupFile, error) {
	f, err := os.Open(src)
	if err != nil {
		return api.BackupFile{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return api.BackupFile{}, err
	}
	h := &tar.Header{Name: name, Mode: int64(fi.Mode().Perm()), Size: fi.Size(), ModTime: fi.ModTime(), Typeflag: tar.TypeReg}
	if err := tw.WriteHeader(h); err != nil {
		return api.BackupFile{}, err
	}
	sum := sha256.New()
	if _, err := io.CopyN(io.MultiWriter(tw, sum), f, fi.Size()); err != nil {
		return api.BackupFile{}, fmt.Errorf("copying %s: %w", src, err)
	}
	return api.BackupFile{Path: name, Size: fi.Size(), SHA256: hex.EncodeToString(sum.Sum(nil))}, nil
}
