package buildpacks

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Slug is a written slug.
type Slug struct {
	Path   string // <dir>/<sha256>.tar.gz
	SHA256 string
	Size   int64
}

// WriteSlug archives root (without .git) as a gzipped tarball into dir,
// named by the SHA-256 of its bytes. Symlinks are stored as links and never
// followed, so nothing outside root reaches the slug; special files are
// skipped.
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

func archive(ctx context.Context, root string, tw *tar.Writer) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		if rel == ".git" && d.IsDir() {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		case fi.IsDir(), fi.Mode().IsRegular():
		default:
			return nil // sockets, fifos, devices
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			return copyFileTo(tw, path)
		}
		return nil
	})
}

func copyFileTo(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
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

// ExtractSlug unpacks a slug into dir, which must be empty or absent. It
// refuses entries that would land outside dir, including through a
// symlink the slug itself created.
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
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("extracting the slug: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the slug: %w", err)
		}
		if err := extractEntry(root, hdr, tr); err != nil {
			return fmt.Errorf("extracting %s from the slug: %w", hdr.Name, err)
		}
	}
}

// extractEntry writes one entry through an os.Root, which refuses paths
// that escape it (.., absolute paths, symlinks pointing out).
func extractEntry(root *os.Root, hdr *tar.Header, r io.Reader) error {
	name := strings.TrimSuffix(hdr.Name, "/")
	if name == "" || name == "." {
		return nil
	}
	if dir := filepath.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	mode := hdr.FileInfo().Mode().Perm()
	switch hdr.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(name, mode|0o700)
	case tar.TypeSymlink:
		return root.Symlink(hdr.Linkname, name)
	case tar.TypeReg:
		f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, r); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}
