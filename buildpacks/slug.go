package buildpacks

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/pierhq/pier/internal/untar"
)

// Slug is a written slug.
type Slug struct {
	Path   string // <dir>/<sha256>.tar.gz
	SHA256 string
	Size   int64
}

// WriteSlug archives root (without .git) as a gzipped tarball into dir,
// named by the SHA-256 of its bytes. It reads through an os.Root and
// stores symlinks as links, never following them, so nothing outside root
// reaches the slug; special files are skipped.
func WriteSlug(ctx context.Context, root, dir string) (Slug, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Slug{}, fmt.Errorf("creating the slug directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".slug-*.tmp")
	if err != nil {
		return Slug{}, fmt.Errorf("creating the slug: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	zw, _ := gzip.NewWriterLevel(cw, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	if err := archive(ctx, root, tw); err != nil {
		tmp.Close()
		return Slug{}, fmt.Errorf("writing the slug: %w", err)
	}
	for _, c := range []io.Closer{tw, zw} {
		if err := c.Close(); err != nil {
			tmp.Close()
			return Slug{}, fmt.Errorf("writing the slug: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return Slug{}, fmt.Errorf("writing the slug: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return Slug{}, fmt.Errorf("writing the slug: %w", err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	final := filepath.Join(dir, sum+".tar.gz")
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return Slug{}, fmt.Errorf("writing the slug: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		return Slug{}, fmt.Errorf("writing the slug: %w", err)
	}
	return Slug{Path: final, SHA256: sum, Size: cw.n}, nil
}

// archive writes the tree at root into tw. It reads through an os.Root:
// the build that wrote the tree may still swap a file or directory for a
// symlink, and nothing outside root is ever read.
func archive(ctx context.Context, root string, tw *tar.Writer) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	return fs.WalkDir(r.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		if name == ".git" && d.IsDir() {
			return fs.SkipDir
		}
		return archiveEntry(r, tw, name, d)
	})
}

// archiveEntry writes one directory, file or symlink; other kinds
// (sockets, fifos, devices) are skipped.
func archiveEntry(r *os.Root, tw *tar.Writer, name string, d fs.DirEntry) error {
	switch {
	case d.Type()&fs.ModeSymlink != 0:
		link, err := r.Readlink(name)
		if err != nil {
			return err
		}
		fi, err := r.Lstat(name)
		if err != nil {
			return err
		}
		return writeHeader(tw, name, fi, link)
	case d.IsDir():
		fi, err := d.Info()
		if err != nil {
			return err
		}
		return writeHeader(tw, name, fi, "")
	case d.Type().IsRegular():
		return archiveFile(r, tw, name)
	}
	return nil
}

// archiveFile writes a regular file from the descriptor it opened, so its
// header and bytes are those of one file. It opens without blocking, and
// skips what is no longer a regular file (a fifo swapped in).
func archiveFile(r *os.Root, tw *tar.Writer, name string) error {
	f, err := r.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return err
	}
	if err := writeHeader(tw, name, fi, ""); err != nil {
		return err
	}
	_, err = io.CopyN(tw, f, fi.Size())
	return err
}

func writeHeader(tw *tar.Writer, name string, fi fs.FileInfo, link string) error {
	hdr, err := tar.FileInfoHeader(fi, link)
	if err != nil {
		return err
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
	return tw.WriteHeader(hdr)
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ExtractSlug unpacks a slug into dir, which must be empty or absent,
// through internal/untar: nothing lands outside dir, and a slug that tries
// is refused.
func ExtractSlug(slug, dir string) error {
	f, err := os.Open(slug)
	if err != nil {
		return fmt.Errorf("opening the slug: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("reading the slug: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("extracting the slug: %w", err)
	}
	return untar.Extract(zr, dir, untar.Slug)
}
