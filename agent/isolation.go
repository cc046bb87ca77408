package agent

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/pierhq/pier/sandbox"
)

// isolation says whether apps and builds run as users of their own
// (package sandbox), and when not, why.
type isolation struct {
	on  bool
	why string // when off: what keeps the agent from it, and what to do
}

// detectIsolation turns isolation on where the agent may switch users and
// the apps' users can reach the data dir.
func detectIsolation(dataDir string) isolation {
	if err := sandbox.CanSwitch(); err != nil {
		if os.Geteuid() != 0 {
			return isolation{why: fmt.Sprintf("the agent runs as uid %d, not root, and cannot switch users: run it as root or as the installed service", os.Geteuid())}
		}
		return isolation{why: err.Error() + ": run it as root or give it those capabilities (the installed service has them)"}
	}
	if err := sandbox.Reachable(filepath.Dir(dataDir)); err != nil {
		return isolation{why: err.Error()}
	}
	return isolation{on: true}
}

// describe is what `pier apps info` says of an app's isolation.
func (iso isolation) describe(uid int, scheduler string) string {
	switch {
	case !iso.on:
		return "not isolated: apps and builds run as the agent's user, and can read its files (" + iso.why + ")"
	case scheduler != "local":
		return fmt.Sprintf("builds as uid %d; its processes are isolated by Nomad's task driver", uid+1)
	case uid == 0:
		return "isolated: runs as a user of its own from its next deploy"
	}
	return fmt.Sprintf("isolated: runs as uid %d, builds as uid %d", uid, uid+1)
}

// Modes of the data dir and what is in it when apps are isolated: the apps'
// and builds' users may pass through the data dir to their own places
// (local/apps/APP, tmp/build-N, cache/APP) and read the buildpacks, and
// nothing else. Without isolation everything is the agent's alone.
func (d dirs) modes(iso isolation) map[string]os.FileMode {
	pass, read := os.FileMode(0o700), os.FileMode(0o700)
	if iso.on {
		pass, read = 0o711, 0o755
	}
	return map[string]os.FileMode{
		d.root: pass, d.tmp: pass, d.cache: pass, d.buildpacks: read,
		d.slugs: 0o700, d.repos: 0o700, d.logs: 0o700, d.local: 0o700, d.certs: 0o700,
		d.addons: pass, d.addonBackupsRoot: 0o700,
	}
}

// prepareDirs creates the data dir's directories with their modes, and
// takes every other user's access off the files directly in it.
func (d dirs) prepare(iso isolation) error {
	for dir, mode := range d.modes(iso) {
		if err := os.MkdirAll(dir, mode); err != nil {
			return fmt.Errorf("creating %s: %w", dir, err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(d.root, e.Name())
		fi, err := os.Lstat(p)
		if err != nil || fi.IsDir() || fi.Mode()&os.ModeSymlink != 0 {
			continue
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil {
				return err
			}
		}
	}
	return nil
}

// limitProcesses caps the processes and threads of every user the agent's
// children run as: apps and builds inherit the limit and cannot raise it.
// The agent itself, as root, is not held to it.
func limitProcesses(n int) error {
	rl := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	return unix.Setrlimit(unix.RLIMIT_NPROC, &rl)
}

// identities are the users app runs and builds as (the zero Identity when
// apps are not isolated), giving the app its ids on first use.
func (a *Agent) identities(app string) (run, build sandbox.Identity, err error) {
	if !a.iso.on {
		return sandbox.Identity{}, sandbox.Identity{}, nil
	}
	uid, err := a.store.AssignUID(app, func(used map[int]bool) (int, error) { return lowestFreeUID(a.cfg.UIDs, used) })
	if err != nil {
		return run, build, fmt.Errorf("giving %s a user of its own: %w", app, err)
	}
	return sandbox.Identity{UID: uid, GID: uid}, sandbox.Identity{UID: uid + 1, GID: uid + 1}, nil
}

// lowestFreeUID picks the lowest app user id of ids that no app holds.
func lowestFreeUID(ids sandbox.Range, used map[int]bool) (int, error) {
	for n := 0; ; n++ {
		run, _, err := ids.ForApp(n)
		if err != nil {
			return 0, fmt.Errorf("every user id of the range %s is taken: destroy apps you no longer need, or give the agent a larger --uid-range", ids)
		}
		if !used[run.UID] {
			return run.UID, nil
		}
	}
}

// reapBuilds ends what builds of an agent that crashed left running, and
// removes their directories (with the config they held in plain text): the
// process groups recorded beside them, what works in them, and every
// process of the build users of this agent's apps.
func (a *Agent) reapBuilds() {
	a.builder.Reap()
	apps, err := a.store.ListApps()
	if err != nil {
		a.logf("listing the apps whose builds to end: %v", err)
		return
	}
	for _, app := range apps {
		if app.UID == 0 {
			continue
		}
		build := sandbox.Identity{UID: app.UID + 1, GID: app.UID + 1}
		if left := sandbox.KillUser(build); left > 0 {
			a.logf("%d processes a crashed build of %s left as uid %d could not be killed", left, app.Name, build.UID)
		}
	}
}

// identityOf is the identity of a user id an app or add-on holds; 0 is
// the agent's own.
func identityOf(uid int) sandbox.Identity {
	if uid == 0 {
		return sandbox.Identity{}
	}
	return sandbox.Identity{UID: uid, GID: uid}
}
