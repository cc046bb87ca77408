package untar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// mkdir makes a directory entry; one the archive's earlier entries implied
// exists already and keeps its mode.
func (x *extractor) mkdir(name string, h *tar.Header) error {
	mode := fs.FileMode(0o755)
	if x.o.KeepModes {
		mode = fs.FileMode(h.Mode).Perm() | 0o700
	}
	if err := x.root.Mkdir(name, mode); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("unpacking %s: %w", x.o.What, err)
	}
	return nil
}

// writeFile writes a file entry, counting its bytes against the bound
// before anything is written.
func (x *extractor) writeFile(name string, h *tar.Header, r io.Reader) error {
	if x.bytes += h.Size; x.bytes > x.o.MaxBytes {
		return x.refuse("its files hold more than the limit of %s (reached at %q)", size(x.o.MaxBytes), h.Name)
	}
	f, err := x.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, x.fileMode(h))
	if err != nil {
		return fmt.Errorf("unpacking %s: %w", x.o.What, err)
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("unpacking %s: writing %s: %w", x.o.What, name, err)
	}
	return nil
}

func (x *extractor) fileMode(h *tar.Header) fs.FileMode {
	perm := fs.FileMode(h.Mode).Perm()
	switch {
	case x.o.KeepModes:
		return perm | 0o600
	case perm&0o111 != 0:
		return 0o755
	}
	return 0o644
}

// size says n bytes for people.
func size(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
