// Package untar unpacks tar streams that pier did not write itself, or did
// not write alone: a pushed tree, a slug, a buildpack downloaded as a
// tarball. Every write goes through an os.Root, so nothing lands outside the
// target directory whatever the archive holds; on top of that an archive
// that tries (a name with "..", an absolute name, a symlink that leads out,
// a path given twice, a hard link, a device) is refused with a message
// naming the entry, and bounds on entries, depth and bytes stop an archive
// that would fill the disk. It uses the standard library only.
package untar

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
)

// Options says what one kind of archive may hold.
type Options struct {
	// What names the archive in messages: "the pushed tree", "the slug".
	What string
	// MaxBytes bounds the content of all files together; MaxEntries the
	// number of entries; MaxDepth the number of path elements of a name.
	// 0 means the package's default.
	MaxBytes   int64
	MaxEntries int
	MaxDepth   int
	// KeepModes keeps each entry's permission bits (adding the owner's
	// read and write, and search on directories); otherwise files get
	// 0644, or 0755 when any execute bit is set, and directories 0755, as
	// a git checkout has them. Set-id and sticky bits are always dropped.
	KeepModes bool
	// HostLinks accepts symlinks to absolute paths, which name files of
	// the host (a slug's bin/node -> /usr/bin/node); otherwise they are
	// refused. Nothing is ever written through one.
	HostLinks bool
	// SkipSpecial skips character and block devices and fifos instead of
	// refusing the archive.
	SkipSpecial bool
}

// Defaults of Options' bounds.
const (
	DefaultMaxBytes   = 2 << 30
	DefaultMaxEntries = 1 << 20
	DefaultMaxDepth   = 128
)

// Slug is what a slug may hold: pier writes slugs from a build directory, so
// they keep their modes and the host runtimes a buildpack linked; WriteSlug
// never stores devices or fifos, and they are skipped.
var Slug = Options{What: "the slug", MaxBytes: 8 << 30, KeepModes: true, HostLinks: true, SkipSpecial: true}

// ErrRefused is wrapped by every error that refuses an archive for what it
// holds, as opposed to an error reading or writing it.
var ErrRefused = errors.New("archive refused")

// refusal is an archive refused for what it holds; its message names the
// archive and the entry.
type refusal struct{ what, msg string }

func (r *refusal) Error() string        { return r.what + " is refused: " + r.msg }
func (r *refusal) Is(target error) bool { return target == ErrRefused }

// Extract unpacks the tar stream r into dir, an existing empty directory.
// On error dir may hold part of the archive: the caller removes it.
func Extract(r io.Reader, dir string, o Options) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("unpacking %s: %w", o.What, err)
	}
	defer root.Close()
	x := newExtractor(root, o)
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", o.What, err)
		}
		if err := x.entry(h, tr); err != nil {
			return err
		}
	}
	return x.checkLinks()
}

func (o Options) withDefaults() Options {
	if o.What == "" {
		o.What = "the archive"
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultMaxEntries
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	return o
}
