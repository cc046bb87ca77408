package agent

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/internal/untar"
)

// VerifyBackup reads the archive at file whole and checks every file in it
// against its manifest: a truncated, damaged or changed archive is refused.
func VerifyBackup(file string) (api.BackupManifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return api.BackupManifest{}, err
	}
	defer f.Close()
	m, err := verifyArchive(f)
	if err != nil {
		return m, fmt.Errorf("%s is not a good backup: %w", file, err)
	}
	return m, nil
}

func verifyArchive(r io.Reader) (api.BackupManifest, error) {
	var m api.BackupManifest
	damaged := func(err error) error {
		return fmt.Errorf("the archive is truncated or damaged (%v)", err)
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return m, damaged(err)
	}
	tr := tar.NewReader(zr)
	got := map[string]api.BackupFile{}
	var sawManifest bool
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return m, damaged(err)
		}
		switch {
		case h.Name == manifestName:
			if err := json.NewDecoder(io.LimitReader(tr, 64<<20)).Decode(&m); err != nil {
				return m, damaged(fmt.Errorf("reading the manifest: %w", err))
			}
			sawManifest = true
		case h.Typeflag == tar.TypeDir:
		case h.Typeflag == tar.TypeReg:
			sum := sha256.New()
			n, err := io.Copy(sum, tr)
			if err != nil {
				return m, damaged(err)
			}
			got[h.Name] = api.BackupFile{Path: h.Name, Size: n, SHA256: hex.EncodeToString(sum.Sum(nil))}
		default:
			return m, fmt.Errorf("%s: a backup holds only files and directories", h.Name)
		}
	}
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return m, damaged(err)
	}
	if !sawManifest {
		return m, errors.New("it has no manifest.json: the archive is truncated, or not a pier backup")
	}
	if m.Format != api.BackupFormat {
		return m, fmt.Errorf("backup format %d, this pier reads %d", m.Format, api.BackupFormat)
	}
	for _, want := range m.Files {
		f, ok := got[want.Path]
		if !ok {
			return m, fmt.Errorf("%s is in the manifest but not in the archive", want.Path)
		}
		if f != want {
			return m, fmt.Errorf("%s does not match its SHA-256 in the manifest: the archive was changed after it was made", want.Path)
		}
		delete(got, want.Path)
	}
	for p := range got {
		return m, fmt.Errorf("%s is in the archive but not in the manifest", p)
	}
	return m, nil
}

// RestoreBackup restores the archive at file into dataDir, which no agent
// may be using. dataDir must be empty or absent unless force is set; then
// what it held is moved aside to dataDir.before-restore-TIME, not deleted.
// The archive is verified before anything is written, unpacked into a
// temp dir beside dataDir and renamed into place: an error leaves dataDir
// as it was.
func RestoreBackup(file, dataDir string, force bool) (api.BackupManifest, error) {
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return api.BackupManifest{}, err
	}
	m, err := VerifyBackup(file)
	if err != nil {
		return m, err
	}
	if m.SchemaVersion > store.SchemaVersion {
		return m, fmt.Errorf("the backup has store schema v%d, newer than this pier knows (v%d): restore it with pier %s or newer", m.SchemaVersion, store.SchemaVersion, m.PierVersion)
	}
	occupied, err := checkRestoreTarget(dataDir)
	if err != nil {
		return m, err
	}
	if occupied && !force {
		return m, fmt.Errorf("%s is not empty: restore into an empty data dir, or give --force to move what it holds aside", dataDir)
	}
	parent := filepath.Dir(dataDir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return m, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-")
	if err != nil {
		return m, err
	}
	defer os.RemoveAll(tmp) // gone after the rename; a leftover after an error
	if err := unpackBackup(file, tmp, m); err != nil {
		return m, err
	}
	if _, err := store.InspectFile(filepath.Join(tmp, "pier.db")); err != nil {
		return m, fmt.Errorf("checking the restored store: %w", err)
	}
	if occupied {
		aside := fmt.Sprintf("%s.before-restore-%s", dataDir, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(dataDir, aside); err != nil {
			return m, fmt.Errorf("moving %s aside: %w", dataDir, err)
		}
	} else if err := os.Remove(dataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return m, err
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		return m, fmt.Errorf("moving the restored data into %s: %w", dataDir, err)
	}
	return m, syncDir(parent)
}

// checkRestoreTarget reports whether dataDir holds anything, and refuses
// one whose store a running agent holds (the store's lock tells).
func checkRestoreTarget(dataDir string) (occupied bool, err error) {
	ents, err := os.ReadDir(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	db := filepath.Join(dataDir, "pier.db")
	if _, err := os.Stat(db); err == nil {
		if _, err := store.InspectFile(db); err != nil {
			return true, fmt.Errorf("not restoring into %s: %w", dataDir, err)
		}
	}
	return len(ents) > 0, nil
}

// unpackBackup unpacks the verified archive into dir and checks the files
// written against the manifest again (the file may have changed since).
func unpackBackup(file, dir string, m api.BackupManifest) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	var total int64
	for _, bf := range m.Files {
		total += bf.Size
	}
	opts := untar.Options{What: "the backup", MaxBytes: total + 64<<20, MaxEntries: 4 * (len(m.Files) + 16), KeepModes: true}
	if err := untar.Extract(zr, dir, opts); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(dir, manifestName)); err != nil {
		return err
	}
	for _, bf := range m.Files {
		got, err := hashAndSync(filepath.Join(dir, filepath.FromSlash(bf.Path)))
		if err != nil {
			return err
		}
		if got != bf.SHA256 {
			return fmt.Errorf("%s changed while it was restored: try again", bf.Path)
		}
	}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncDir(p)
	})
	if err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// hashAndSync returns the SHA-256 of the file at p, once it is on disk.
func hashAndSync(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("syncing %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
