package local

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/internal/untar"
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

// extract writes the tar.gz archive into dir through internal/untar:
// nothing lands outside dir, and a slug whose entries or links point out
// of it is refused.
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
	return untar.Extract(zr, dir, untar.Slug)
}
