package untar

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"path"
)

// kind is what a path of the archive is, as far as the archive has said.
type kind byte

const (
	implicitDir kind = iota + 1 // a parent of an entry, not an entry itself
	dirEntry
	fileEntry
	linkEntry
)

func (k kind) String() string {
	switch k {
	case dirEntry, implicitDir:
		return "a directory"
	case fileEntry:
		return "a file"
	case linkEntry:
		return "a symlink"
	}
	return "an entry"
}

// extractor holds what one archive wrote so far.
type extractor struct {
	o       Options
	root    *os.Root
	entries int
	bytes   int64
	paths   map[string]kind   // every path written, by cleaned name
	links   map[string]string // symlink name -> target
}

func newExtractor(root *os.Root, o Options) *extractor {
	return &extractor{o: o.withDefaults(), root: root, paths: map[string]kind{}, links: map[string]string{}}
}

func (x *extractor) refuse(format string, args ...any) error {
	return &refusal{what: x.o.What, msg: fmt.Sprintf(format, args...)}
}

// entry checks one entry and writes it.
func (x *extractor) entry(h *tar.Header, r io.Reader) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil // git archive's commit id; nothing to write
	}
	if x.entries++; x.entries > x.o.MaxEntries {
		return x.refuse("it holds more than %d entries", x.o.MaxEntries)
	}
	name, err := x.name(h)
	if err != nil || name == "." {
		return err
	}
	k, err := x.kindOf(h)
	if err != nil || k == 0 {
		return err
	}
	newParent, err := x.claim(name, k)
	if err != nil {
		return err
	}
	if newParent {
		if err := x.root.MkdirAll(path.Dir(name), 0o755); err != nil {
			return fmt.Errorf("unpacking %s: %w", x.o.What, err)
		}
	}
	switch k {
	case dirEntry:
		return x.mkdir(name, h)
	case fileEntry:
		return x.writeFile(name, h, r)
	default:
		return x.symlink(name, h.Linkname)
	}
}

// kindOf says what h is, refuses what may not be unpacked, and returns 0
// for what is skipped.
func (x *extractor) kindOf(h *tar.Header) (kind, error) {
	switch h.Typeflag {
	case tar.TypeDir:
		return dirEntry, nil
	case tar.TypeReg:
		return fileEntry, nil
	case tar.TypeSymlink:
		return linkEntry, nil
	case tar.TypeLink:
		return 0, x.refuse("%q is a hard link to %q: hard links are not accepted, store a copy of the file", h.Name, h.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if x.o.SkipSpecial {
			return 0, nil
		}
		return 0, x.refuse("%q is a %s: only files, directories and symlinks are accepted", h.Name, special(h.Typeflag))
	}
	return 0, x.refuse("%q has tar type %q, which is not accepted: only files, directories and symlinks are", h.Name, h.Typeflag)
}

func special(t byte) string {
	switch t {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	}
	return "fifo (named pipe)"
}
