// Package sandbox is how pier keeps apps and builds apart from the agent and
// from each other on one host: each app runs as an unprivileged user of its
// own and builds as a second one, both taken from a range that no account
// of the host uses. The agent (root, or holding the capabilities below)
// starts their processes under those ids; the kernel then keeps them from
// the agent's files, from other apps' files and processes, and from their
// /proc/PID/environ.
//
// Ids: app number n (0, 1, 2 ...) of a Range runs as First+2n and builds
// as First+2n+1, each with a group of the same number and no other group.
package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Range is the user and group ids an agent gives its apps and builds, First
// to Last inclusive. Two agents on one host (staging and production, say)
// each need a range of their own: an agent ends every process of its
// builds' users when it starts and when a build ends.
type Range struct{ First, Last int }

// DefaultRange is the range of an agent that was given none. Debian and most
// distributions hand out 1000-59999 to people and 60000-65535 to
// themselves; subordinate ids for containers start at 100000.
var DefaultRange = Range{70000, 99999}

// ParseRange reads a range written FIRST-LAST, as in "70000-99999". It must
// hold one app at least and stay clear of the ids a distribution gives
// people and itself.
func ParseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return Range{}, fmt.Errorf("a uid range is written FIRST-LAST, as in %s; got %q", DefaultRange, s)
	}
	r := Range{first, last}
	switch {
	case first < 65536:
		return Range{}, fmt.Errorf("uid range %s starts among the ids the host gives people and itself: start it at 65536 or above", r)
	case last < first+1:
		return Range{}, fmt.Errorf("uid range %s has no room for one app, which needs two ids", r)
	case last > 1<<31-2:
		return Range{}, fmt.Errorf("uid range %s ends beyond the largest user id", r)
	}
	return r, nil
}

func (r Range) String() string { return fmt.Sprintf("%d-%d", r.First, r.Last) }

// Identity is the user and group a process runs as. The zero Identity is
// the agent's own: nothing is switched.
type Identity struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Isolated reports whether id names a user of its own.
func (id Identity) Isolated() bool { return id.UID > 0 }

// ForApp returns the identities of app number n of r: the one its
// processes run as and the one its builds run as.
func (r Range) ForApp(n int) (run, build Identity, err error) {
	uid := r.First + 2*n
	if n < 0 || uid+1 > r.Last {
		return Identity{}, Identity{}, fmt.Errorf("app number %d is outside the user range %s", n, r)
	}
	return Identity{uid, uid}, Identity{uid + 1, uid + 1}, nil
}

// Apply makes the process cmd will start run as id, with no supplementary
// groups. The zero Identity changes nothing.
func (id Identity) Apply(attr *syscall.SysProcAttr) {
	if !id.Isolated() {
		return
	}
	attr.Credential = &syscall.Credential{Uid: uint32(id.UID), Gid: uint32(id.GID), Groups: []uint32{}}
}

// Chown gives path (not following a symlink) to id; the zero Identity
// changes nothing.
func (id Identity) Chown(path string) error {
	if !id.Isolated() {
		return nil
	}
	return os.Lchown(path, id.UID, id.GID)
}

// ChownTree gives dir and everything in it to id, without following
// symlinks.
func (id Identity) ChownTree(dir string) error {
	if !id.Isolated() {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, id.UID, id.GID)
	})
}

// Capabilities the agent needs to isolate apps when it is not root:
// switching users and groups, giving files to them, reading and removing
// what they wrote, and signalling their processes.
var needed = map[int]string{
	0: "CAP_CHOWN", 1: "CAP_DAC_OVERRIDE", 3: "CAP_FOWNER", 5: "CAP_KILL", 6: "CAP_SETGID", 7: "CAP_SETUID",
}

// CanSwitch reports why this process cannot start processes as other users,
// or nil when it can.
func CanSwitch() error {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return fmt.Errorf("reading /proc/self/status: %w", err)
	}
	var capEff uint64
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			capEff, err = strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return fmt.Errorf("reading the agent's capabilities: %w", err)
			}
		}
	}
	var missing []string
	for bit := range 8 {
		if name, ok := needed[bit]; ok && capEff&(1<<bit) == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the agent runs as uid %d without %s", os.Geteuid(), strings.Join(missing, ", "))
	}
	return nil
}

// Reachable reports why a user other than the owner cannot reach dir (a
// directory on its path that others may not search), or nil.
func Reachable(dir string) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s is not searchable by other users (chmod o+x %s, or use a data dir under /var/lib)", p, p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
