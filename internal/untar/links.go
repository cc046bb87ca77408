package untar

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// maxHops is how many symlinks the kernel follows in one path (ELOOP).
const maxHops = 40

// symlink checks a symlink entry lexically, relative to the link's
// directory, and writes it. Links that climb out through other links of
// the archive are caught by checkLinks once all are known.
func (x *extractor) symlink(name, target string) error {
	switch {
	case target == "":
		return x.refuse("symlink %q has no target", name)
	case path.IsAbs(target) && !x.o.HostLinks:
		return x.refuse("symlink %q -> %q is absolute: links must stay inside, with a relative target", name, target)
	case !path.IsAbs(target) && !filepath.IsLocal(path.Join(path.Dir(name), target)):
		return x.refuse("symlink %q -> %q leads out of it: links must stay inside", name, target)
	}
	if err := x.root.Symlink(target, name); err != nil {
		return fmt.Errorf("unpacking %s: %w", x.o.What, err)
	}
	x.links[name] = target
	return nil
}

// checkLinks refuses a symlink that, followed through the archive's other
// symlinks as the kernel would, leads out of it ("s -> r/.." with
// "r -> ."). A chain that ends at an absolute target names a host file on
// purpose, and was allowed or refused by symlink.
func (x *extractor) checkLinks() error {
	names := make([]string, 0, len(x.links))
	for n := range x.links {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if via, out := resolvesOutside(x.links, n); out {
			return x.refuse("symlink %q -> %q leads out of it through the symlink %q: links must stay inside", n, x.links[n], via)
		}
	}
	return nil
}

// resolvesOutside walks the target of the link at name element by
// element, replacing each link of the archive it meets by its target, and
// reports whether it climbs above the root, and through which link.
func resolvesOutside(links map[string]string, name string) (via string, out bool) {
	cur := split(path.Dir(name))
	todo := split(links[name])
	via = name
	for hops := 0; len(todo) > 0; {
		el := todo[0]
		todo = todo[1:]
		if el == ".." {
			if len(cur) == 0 {
				return via, true
			}
			cur = cur[:len(cur)-1]
			continue
		}
		cur = append(cur, el)
		p := strings.Join(cur, "/")
		t, ok := links[p]
		if !ok {
			continue
		}
		if hops++; hops > maxHops || path.IsAbs(t) {
			return "", false // a loop, which the kernel refuses; or a host path
		}
		cur, via = cur[:len(cur)-1], p
		todo = append(split(t), todo...)
	}
	return "", false
}

// split returns the elements of a slash-separated path, without "." and
// empty ones.
func split(p string) []string {
	var els []string
	for _, el := range strings.Split(p, "/") {
		if el != "" && el != "." {
			els = append(els, el)
		}
	}
	return els
}
