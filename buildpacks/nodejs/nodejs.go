// Package nodejs is the built-in Node.js buildpack, after Heroku's: the node
// engines.node asks for, installed from the npm registry; npm (ci with a
// lockfile, install without), yarn 1, yarn 2+ or pnpm at the version
// packageManager or engines asks for; the heroku-prebuild, build (or
// heroku-postbuild) and heroku-cleanup scripts; devDependencies pruned; and
// "web: npm start" when the app has a start script.
package nodejs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Name is shown to the user.
const Name = "Node.js"

// Detect reports whether dir holds a Node.js app.
func Detect(dir string) (bool, string) {
	if bpkit.IsFile(filepath.Join(dir, "package.json")) {
		return true, ""
	}
	return false, "no package.json"
}

type packageJSON struct {
	Name             string            `json:"name"`
	Scripts          map[string]string `json:"scripts"`
	Engines          map[string]string `json:"engines"`
	PackageManager   string            `json:"packageManager"`
	CacheDirectories []string          `json:"cacheDirectories"`
}

// otherNodes are where node versions besides the one on PATH are looked for.
var otherNodes = []string{
	"/usr/local/n/versions/node/*/bin/node",
	"/usr/local/lib/nodejs/*/bin/node",
	"/opt/node*/bin/node",
}

// defaultNode is installed for an app that names no engines.node on a
// machine without node.
const defaultNode = "24.x"

// Build installs the app's dependencies and builds it.
func Build(ctx context.Context, r bpkit.Request) (map[string]string, error) {
	pkg, err := readPackage(r.BuildDir)
	if err != nil {
		return nil, err
	}
	for _, d := range []string{toolsDir, filepath.Join(toolsDir, "node")} {
		if fi, err := os.Lstat(filepath.Join(r.BuildDir, d)); err == nil && !fi.IsDir() {
			return nil, fmt.Errorf("a %s file is checked into this app, where the build installs node (%s/node): remove it from the repository and push again", d, toolsDir)
		}
	}
	cfg, err := bpkit.ReadEnv(r.EnvDir)
	if err != nil {
		return nil, err
	}
	pm, err := chooseManager(r.BuildDir, pkg)
	if err != nil {
		return nil, err
	}
	reg := newRegistry(configURL(cfg, DefaultRegistry, "NPM_CONFIG_REGISTRY", "npm_config_registry"))
	b := &build{r: r, cfg: cfg, pkg: pkg, pm: pm, reg: reg, dist: newNodeDist(configURL(cfg, DefaultNodeDist, "NODEJS_ORG_MIRROR"))}
	if err := b.installTools(ctx); err != nil {
		return nil, err
	}
	if err := b.dependencies(ctx); err != nil {
		return nil, err
	}
	if err := writeProfile(r.BuildDir); err != nil {
		return nil, err
	}
	if _, ok := pkg.Scripts["start"]; ok || bpkit.IsFile(filepath.Join(r.BuildDir, "server.js")) {
		if pm.berry {
			return map[string]string{"web": "yarn start"}, nil
		}
		return map[string]string{"web": "npm start"}, nil
	}
	return nil, nil
}

// configURL is the first of the config vars (else environment variables)
// keys that is set, or def.
func configURL(cfg map[string]string, def string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(cfg[k]); v != "" {
			return v
		}
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	return def
}

func readPackage(dir string) (packageJSON, error) {
	var pkg packageJSON
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return pkg, fmt.Errorf("reading package.json: %w", err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return pkg, fmt.Errorf("package.json is not valid JSON (%v): fix it and push again", err)
	}
	return pkg, nil
}

// pickNode finds a node binary whose version meets want ("" meets all).
func pickNode(ctx context.Context, want string) (string, string, error) {
	var cands []string
	if p, err := exec.LookPath("node"); err == nil {
		cands = append(cands, p)
	}
	for _, g := range otherNodes {
		m, _ := filepath.Glob(g)
		cands = append(cands, m...)
	}
	if len(cands) == 0 {
		return "", "", fmt.Errorf("node is not installed on this machine: install Node.js on the build host")
	}
	var seen []string
	for _, c := range cands {
		out, err := bpkit.Output(ctx, bpkit.Command{Name: c, Args: []string{"--version"}})
		if err != nil {
			continue
		}
		v, err := parseVersion(out)
		if err != nil {
			continue
		}
		seen = append(seen, "v"+v.String())
		ok, err := satisfies(v, want)
		if err != nil {
			return "", "", fmt.Errorf("package.json engines.node %q: %w", want, err)
		}
		if ok {
			return c, v.String(), nil
		}
	}
	return "", "", fmt.Errorf("package.json asks for node %q (engines.node) but this machine has %s: install a matching node or change engines.node",
		want, strings.Join(seen, ", "))
}

// linkNode puts the chosen node in the slug's bin/, which is on PATH when
// the app runs.
func linkNode(buildDir, node string) error {
	bin := filepath.Join(buildDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	dst := filepath.Join(bin, "node")
	if bpkit.Exists(dst) {
		return nil
	}
	abs, err := filepath.EvalSymlinks(node)
	if err != nil {
		return fmt.Errorf("resolving %s: %w", node, err)
	}
	return os.Symlink(abs, dst)
}
