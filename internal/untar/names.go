package untar

import (
	"archive/tar"
	"path"
	"strings"
)

// name returns the entry's name cleaned ("." for the root), refusing
// absolute names, ".." elements and names nested too deep.
func (x *extractor) name(h *tar.Header) (string, error) {
	raw := h.Name
	if strings.HasPrefix(raw, "/") {
		return "", x.refuse("%q has an absolute name: names must be relative to its root", raw)
	}
	for _, el := range strings.Split(raw, "/") {
		if el == ".." {
			return "", x.refuse("%q has a \"..\" element: names may not climb out of it", raw)
		}
	}
	name := path.Clean(raw)
	if name == "." {
		if h.Typeflag != tar.TypeDir {
			return "", x.refuse("an entry of type %q has no name", h.Typeflag)
		}
		return name, nil
	}
	if depth := strings.Count(name, "/") + 1; depth > x.o.MaxDepth {
		return "", x.refuse("%q is nested %d levels deep, more than the limit of %d", raw, depth, x.o.MaxDepth)
	}
	return name, nil
}

// claim records that name is written as k, and reports whether a parent
// of it is new (so has to be made). A path may be given once (a directory
// may follow the files it holds); no entry may lie under a symlink or a
// file of the archive.
func (x *extractor) claim(name string, k kind) (newParent bool, err error) {
	for i := 0; i < len(name); i++ {
		if name[i] != '/' {
			continue
		}
		parent := name[:i]
		switch pk := x.paths[parent]; pk {
		case 0:
			x.paths[parent] = implicitDir
			newParent = true
		case linkEntry, fileEntry:
			return false, x.refuse("%q lies under %q, which is %s: an entry may only lie under a directory", name, parent, pk)
		}
	}
	if prev, ok := x.paths[name]; ok {
		if prev == implicitDir && k == dirEntry {
			x.paths[name] = dirEntry
			return false, nil
		}
		return false, x.refuse("%q appears twice (%s, then %s): a path may appear only once", name, prev, k)
	}
	x.paths[name] = k
	return newParent, nil
}
