package backuptarget

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/renameio/v2"
)

// dirTarget keeps backups as files in a directory. A backup is written to
// a hidden temp file beside its name, synced and renamed into place.
type dirTarget struct{ dir string }

func openDir(dir string) (*dirTarget, error) {
	if dir == "" {
		dir = "."
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the backup directory: %w", err)
	}
	return &dirTarget{dir: dir}, nil
}

func (d *dirTarget) String() string { return d.dir }

func (d *dirTarget) Create(_ context.Context, name string) (Pending, error) {
	p := filepath.Join(d.dir, name)
	f, err := renameio.NewPendingFile(p, renameio.WithPermissions(0o600))
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", p, err)
	}
	return &dirPending{f: f, name: p}, nil
}

type dirPending struct {
	f    *renameio.PendingFile
	name string
}

func (p *dirPending) Write(b []byte) (int, error) { return p.f.Write(b) }
func (p *dirPending) Path() string                { return p.f.Name() }
func (p *dirPending) Cleanup()                    { _ = p.f.Cleanup() }

func (p *dirPending) Commit(context.Context) error {
	if err := p.f.CloseAtomicallyReplace(); err != nil {
		return fmt.Errorf("writing %s: %w", p.name, err)
	}
	return nil
}

func (d *dirTarget) List(context.Context) ([]Backup, error) {
	ents, err := os.ReadDir(d.dir)
	if err != nil {
		return nil, fmt.Errorf("listing the backups in %s: %w", d.dir, err)
	}
	var list []Backup
	for _, e := range ents {
		t, enc, ok := ParseName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		list = append(list, Backup{Name: e.Name(), Location: filepath.Join(d.dir, e.Name()), Size: fi.Size(), Time: t, Encrypted: enc})
	}
	sortNewestFirst(list)
	return list, nil
}

func (d *dirTarget) Open(_ context.Context, name string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(d.dir, name))
}

func (d *dirTarget) Delete(_ context.Context, name string) error {
	return os.Remove(filepath.Join(d.dir, name))
}

// splitPath splits a backup file's path into its directory and name.
func splitPath(p string) (dir, name string) {
	return filepath.Dir(p), filepath.Base(p)
}
