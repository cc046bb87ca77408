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
// An encrypted archive needs its passphrase.
func VerifyBackup(file, passphrase string) (api.BackupManifest, error) {
	f, err := os.Open(file)
	if err != nil {
		return api.BackupManifest{}, err
	}
	defer f.Close()
	r, _, err := decryptFrom(f, passphrase)
	if err != nil {
		return api.BackupManifest{}, fmt.Errorf("%s: %w", file, err)
	}
	m, err := verifyArchive(r)
	if err != nil {
		return m, fmt.Errorf("%s is not a good backup: %w", file, err)
	}
	return m, nil
}

// RestoreOptions tune RestoreBackup.
type RestoreOptions struct {
	// Force restores into a data dir that is not empty, moving what it
	// holds aside.
	Force bool
	// Passphrase opens an encrypted backup.
	Passphrase string
	// WithoutKey restores a backup that holds no key when the key is
	// lost: a new key is made, config values are dropped, and each app
	// records the names it lost (api.App.LostConfig).
	WithoutKey bool
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Manifest api.BackupManifest
	// KeyRestored: the backup held the secret key, now in the data dir.
	KeyRestored bool
	// Lost names, per app, the config vars whose values could not be
	// decrypted (WithoutKey).
	Lost map[string][]string
	// NamesUnknown: the backup, made by an older pier, does not name its
	// config vars, so Lost cannot.
	NamesUnknown bool
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
// may be using. dataDir must be empty or absent unless o.Force is set;
// then what it held is moved aside to dataDir.before-restore-TIME, not
// deleted. The archive is verified before anything is written, unpacked
// into a temp dir beside dataDir and renamed into place: an error leaves
// dataDir as it was.
func RestoreBackup(file, dataDir string, o RestoreOptions) (RestoreResult, error) {
	var res RestoreResult
	dataDir, err := filepath.Abs(dataDir)
	if err != nil {
		return res, err
	}
	parent := filepath.Dir(dataDir)
	plain, done, err := decryptedCopy(file, parent, o.Passphrase)
	if err != nil {
		return res, err
	}
	defer done()
	m, err := VerifyBackup(plain, "")
	res.Manifest = m
	if err != nil {
		return res, fmt.Errorf("%s is not a good backup: %w", file, errors.Unwrap(err))
	}
	if m.SchemaVersion > store.SchemaVersion {
		return res, fmt.Errorf("the backup has store schema v%d, newer than this pier knows (v%d): restore it with pier %s or newer", m.SchemaVersion, store.SchemaVersion, m.PierVersion)
	}
	if o.WithoutKey && m.KeyIncluded {
		return res, errors.New("the backup holds the secret key: restore it without --without-key, and the config decrypts")
	}
	occupied, err := checkRestoreTarget(dataDir)
	if err != nil {
		return res, err
	}
	if occupied && !o.Force {
		return res, fmt.Errorf("%s is not empty: restore into an empty data dir, or give --force to move what it holds aside", dataDir)
	}
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dataDir)+".restore-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(tmp) // gone after the rename; a leftover after an error
	if err := unpackBackup(plain, tmp, m); err != nil {
		return res, err
	}
	db := filepath.Join(tmp, "pier.db")
	if _, err := store.InspectFile(db); err != nil {
		return res, fmt.Errorf("checking the restored store: %w", err)
	}
	res.KeyRestored = m.KeyIncluded
	if o.WithoutKey {
		if res.Lost, err = forgetLostKey(tmp, m); err != nil {
			return res, err
		}
		res.NamesUnknown = m.Config == nil
	}
	if occupied {
		aside := fmt.Sprintf("%s.before-restore-%s", dataDir, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(dataDir, aside); err != nil {
			return res, fmt.Errorf("moving %s aside: %w", dataDir, err)
		}
	} else if err := os.Remove(dataDir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	if err := os.Rename(tmp, dataDir); err != nil {
		return res, fmt.Errorf("moving the restored data into %s: %w", dataDir, err)
	}
	return res, syncDir(parent)
}

// decryptedCopy returns file itself when it is not encrypted, else a
// decrypted copy in dir (0600, removed by done): a restore reads the
// archive twice, to verify it and to unpack it.
func decryptedCopy(file, dir, passphrase string) (plain string, done func(), err error) {
	f, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	r, encrypted, err := decryptFrom(f, passphrase)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", file, err)
	}
	if !encrypted {
		return file, func() {}, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	tmp, err := os.CreateTemp(dir, ".pier-restore-*.tar.gz")
	if err != nil {
		return "", nil, err
	}
	done = func() { tmp.Close(); os.Remove(tmp.Name()) }
	if _, err := io.Copy(tmp, r); err != nil {
		done()
		return "", nil, fmt.Errorf("%s is not a good backup: the archive is truncated or damaged (%v)", file, err)
	}
	return tmp.Name(), done, nil
}

// forgetLostKey gives the restored store in dir a new key and drops the
// values sealed with the lost one, returning the names each app lost.
func forgetLostKey(dir string, m api.BackupManifest) (map[string][]string, error) {
	key, err := store.LoadOrCreateKey(dir, "")
	if err != nil {
		return nil, err
	}
	if _, err := store.ForgetSealed(filepath.Join(dir, "pier.db"), key, m.Config); err != nil {
		return nil, err
	}
	return m.Config, nil
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
