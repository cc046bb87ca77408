package local

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// slugSHA256 returns the hex SHA-256 of the slug file.
func slugSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("opening slug: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading slug: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// unpackSlug unpacks the slug into dir, or reuses dir when it already holds
// this slug (same checksum). want, when set, must be the slug's checksum.
func unpackSlug(slug, want, dir string) error {
	sum, err := slugSHA256(slug)
	if err != nil {
		return err
	}
	if want != "" && !strings.EqualFold(want, sum) {
		return fmt.Errorf("slug %s has checksum %s, not the release's %s: the slug is damaged, rebuild the release", slug, sum, want)
	}
	mark := dir + ".sha256"
	if b, err := os.ReadFile(mark); err == nil && string(b) == sum {
		if _, err := os.Stat(dir); err == nil {
			return nil
		}
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("unpacking slug: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".unpack-*")
	if err != nil {
		return fmt.Errorf("unpacking slug: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := extract(slug, tmp); err != nil {
		return fmt.Errorf("unpacking slug %s: %w", slug, err)
	}
	if err := readOnly(tmp); err != nil {
		return fmt.Errorf("unpacking slug: %w", err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("unpacking slug: %w", err)
	}
	os.Remove(mark)
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing the old unpacked slug: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("unpacking slug: %w", err)
	}
	return writeFileAtomic(mark, []byte(sum), 0o600)
}

// extract writes the tar.gz archive into dir. Every write goes through an
// os.Root, so no entry lands outside dir, and entries whose names or link
// targets point outside are refused.
func extract(slug, dir string) error {
	f, err := os.Open(slug)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("not a tar.gz: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	tr := tar.NewReader(zr)
	var links []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading archive: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("entry %q points outside the slug: refusing it", h.Name)
		}
		if err := extractEntry(root, tr, h, name); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeSymlink {
			links = append(links, name)
		}
	}
	return checkLinks(dir, links)
}

// extractEntry writes one archive entry below root.
func extractEntry(root *os.Root, tr *tar.Reader, h *tar.Header, name string) error {
	if d := path.Dir(name); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	mode := fs.FileMode(h.Mode).Perm()
	switch h.Typeflag {
	case tar.TypeDir:
		return root.MkdirAll(name, mode|0o700)
	case tar.TypeReg:
		w, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o600)
		if err != nil {
			return err
		}
		_, err = io.Copy(w, tr)
		if cerr := w.Close(); err == nil {
			err = cerr
		}
		return err
	case tar.TypeSymlink:
		// An absolute link names a file of this host, such as the runtime a
		// buildpack linked (bin/node -> /usr/bin/node); the app may read
		// what the link names anyway, and writes go through root. A
		// relative link that climbs out of the slug is refused.
		target := h.Linkname
		if !path.IsAbs(target) && !filepath.IsLocal(path.Join(path.Dir(name), target)) {
			return fmt.Errorf("symlink to %q points outside the slug: refusing it", target)
		}
		return root.Symlink(target, name)
	case tar.TypeLink:
		target := path.Clean(h.Linkname)
		if !filepath.IsLocal(target) {
			return fmt.Errorf("hard link to %q points outside the slug: refusing it", target)
		}
		return root.Link(target, name)
	default:
		return nil // devices, fifos: nothing an app needs
	}
}

// checkLinks refuses symlinks that, followed through other symlinks,
// resolve outside dir by climbing out of it; a chain that ends in an
// absolute link names a host file on purpose (.venv/bin/python ->
// python3 -> /usr/bin/python3).
func checkLinks(dir string, links []string) error {
	base, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return err
	}
	for _, l := range links {
		real, err := filepath.EvalSymlinks(filepath.Join(dir, l))
		if err != nil {
			continue // dangling, inside by construction
		}
		rel, err := filepath.Rel(base, real)
		if (err != nil || !filepath.IsLocal(rel)) && !endsAbsolute(filepath.Join(dir, l)) {
			return fmt.Errorf("symlink %q resolves outside the slug: refusing it", l)
		}
	}
	return nil
}

// endsAbsolute follows the chain of links at p, link by link, and reports
// whether it reaches an absolute target.
func endsAbsolute(p string) bool {
	for range 40 {
		t, err := os.Readlink(p)
		if err != nil {
			return false // not a link: the chain ended inside
		}
		if filepath.IsAbs(t) {
			return true
		}
		p = filepath.Join(filepath.Dir(p), t)
	}
	return false
}
