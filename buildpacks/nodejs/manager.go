package nodejs

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// manager is the package manager that installs an app's dependencies, and
// the version of it the app asks for.
type manager struct {
	name     string // npm, yarn or pnpm
	lockfile string // "" when the app has none
	want     string // an exact version or a range; "" means the default
	from     string // where want came from, for the log
	berry    bool   // yarn 2 or later
	// workspaceTools: .yarnrc.yml loads yarn's workspace-tools plugin,
	// which yarn 2 and 3 need to prune (yarn 4 has it built in).
	workspaceTools bool
	yarnPath       bool // .yarnrc.yml names a yarn release of the app's own
}

// lockfiles maps each lockfile to the package manager that reads it.
var lockfiles = []struct{ file, manager string }{
	{"package-lock.json", "npm"},
	{"npm-shrinkwrap.json", "npm"},
	{"yarn.lock", "yarn"},
	{"pnpm-lock.yaml", "pnpm"},
}

// chooseManager decides between npm, yarn and pnpm from the lockfiles and
// package.json's packageManager and engines, and refuses an app whose
// files disagree.
func chooseManager(dir string, pkg packageJSON) (manager, error) {
	m := manager{name: "npm"}
	for _, l := range lockfiles {
		if !bpkit.IsFile(filepath.Join(dir, l.file)) {
			continue
		}
		if m.lockfile != "" && m.name != l.manager {
			return m, fmt.Errorf("the app has two lockfiles, %s (%s) and %s (%s): delete the one of the package manager you do not use and push again",
				m.lockfile, m.name, l.file, l.manager)
		}
		if m.lockfile == "" {
			m.name, m.lockfile = l.manager, l.file
		}
	}
	if pm := strings.TrimSpace(pkg.PackageManager); pm != "" {
		name, ver, ok := strings.Cut(pm, "@")
		ver, _, _ = strings.Cut(ver, "+") // a "+sha512.…" hash suffix
		if !ok || ver == "" || (name != "npm" && name != "yarn" && name != "pnpm") {
			return m, fmt.Errorf("package.json's packageManager %q is not of the form npm@10.8.2, yarn@4.5.0 or pnpm@9.12.0: fix it and push again", pm)
		}
		if m.lockfile != "" && name != m.name {
			return m, fmt.Errorf("package.json's packageManager is %s, but the app's lockfile is %s, which %s writes: install with %s and commit its lockfile (deleting %s), or change packageManager",
				pm, m.lockfile, m.name, name, m.lockfile)
		}
		m.name, m.want, m.from = name, ver, "packageManager"
	} else if r := strings.TrimSpace(pkg.Engines[m.name]); r != "" {
		m.want, m.from = r, "engines."+m.name
	}
	if m.name == "yarn" {
		m.berry = isBerry(dir, m)
		rc, _ := os.ReadFile(filepath.Join(dir, ".yarnrc.yml"))
		m.workspaceTools = strings.Contains(string(rc), "plugin-workspace-tools")
		m.yarnPath = strings.Contains(string(rc), "yarnPath:")
	}
	if m.name == "pnpm" && m.want == "" {
		m.want, m.from = pnpmForLockfile(filepath.Join(dir, "pnpm-lock.yaml")), "pnpm-lock.yaml's lockfileVersion"
	}
	if m.name == "yarn" && m.want == "" {
		m.want, m.from = "1.x", "default for yarn.lock v1"
		if m.berry {
			m.want, m.from = "4.x", "default for a yarn 2+ lockfile"
		}
	}
	return m, nil
}

// isBerry tells yarn 2+ from yarn 1: by the version asked for, else by
// the lockfile's format or a .yarnrc.yml.
func isBerry(dir string, m manager) bool {
	if m.want != "" {
		if v, _, err := partial(strings.TrimLeft(m.want, "^~=>< ")); err == nil && v[0] >= 2 {
			return true
		} else if err == nil {
			return false
		}
	}
	if bpkit.IsFile(filepath.Join(dir, ".yarnrc.yml")) {
		return true
	}
	f, err := os.Open(filepath.Join(dir, "yarn.lock"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 10 && sc.Scan(); i++ {
		if strings.HasPrefix(sc.Text(), "__metadata:") {
			return true
		}
	}
	return false
}

// pnpmForLockfile is the pnpm range whose releases write the lockfile's
// format.
func pnpmForLockfile(lockfile string) string {
	f, err := os.Open(lockfile)
	if err != nil {
		return "latest"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for i := 0; i < 5 && sc.Scan(); i++ {
		v, ok := strings.CutPrefix(sc.Text(), "lockfileVersion:")
		if !ok {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `'"`)
		switch {
		case strings.HasPrefix(v, "9."):
			return "9.x || 10.x"
		case strings.HasPrefix(v, "6."):
			return "8.x"
		case strings.HasPrefix(v, "5."):
			return "7.x"
		}
	}
	return "latest"
}

// tool is a package manager as the registry serves it.
func (m manager) tool() string {
	switch {
	case m.name == "yarn" && m.berry:
		return "@yarnpkg/cli-dist"
	}
	return m.name
}

// installArgs installs every dependency, devDependencies included, as the
// lockfile pins them (or resolving them, without one). npm installs over
// node_modules an app checked in (npm ci would delete it first). A
// lockfile pins each package's integrity hash, so what the build cache
// holds is taken without asking the registry again (--prefer-offline): a
// warm npm ci of 50 packages takes 2 s instead of 8.
func (m manager) installArgs(npmMajor int, withDev, checkedIn bool) []string {
	switch {
	case m.name == "yarn" && m.berry:
		return []string{"install", "--immutable"}
	case m.name == "yarn":
		args := []string{"install", "--frozen-lockfile", "--prefer-offline"}
		if withDev {
			args = append(args, "--production=false")
		}
		return args
	case m.name == "pnpm":
		args := []string{"install", "--frozen-lockfile", "--prefer-offline"}
		if withDev {
			args = append(args, "--prod=false")
		}
		return args
	}
	args := []string{"install"}
	if m.lockfile != "" && !checkedIn && npmMajor >= 6 { // npm ci came in 5.7
		args = []string{"ci", "--prefer-offline"}
	}
	if withDev && npmMajor >= 7 {
		args = append(args, "--include=dev")
	} else if withDev {
		args = append(args, "--production=false")
	}
	return args
}

// pruneArgs removes devDependencies with yarn or pnpm version tool, or
// npm; nil when the manager cannot.
func (m manager) pruneArgs(npmMajor int, tool version) []string {
	switch {
	case m.name == "yarn" && m.berry:
		if tool[0] >= 4 || m.workspaceTools {
			return []string{"workspaces", "focus", "--all", "--production"}
		}
		return nil
	case m.name == "yarn":
		return []string{"install", "--frozen-lockfile", "--production=true", "--ignore-scripts", "--prefer-offline"}
	case m.name == "pnpm" && tool.cmp(version{8, 15, 6}) < 0:
		return []string{"prune", "--prod"} // --ignore-scripts came in 8.15.6
	case m.name == "pnpm":
		return []string{"prune", "--prod", "--ignore-scripts"}
	}
	if npmMajor >= 7 {
		return []string{"prune", "--omit=dev"}
	}
	return []string{"prune", "--production"}
}
