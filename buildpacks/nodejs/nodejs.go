// Package nodejs is the built-in Node.js buildpack: npm ci from the
// lockfile, npm run build when the app has that script, then devDependencies
// pruned, with the node the app asks for in engines.node when this machine
// has it.
package nodejs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
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
	Scripts map[string]string `json:"scripts"`
	Engines struct {
		Node string `json:"node"`
	} `json:"engines"`
}

// otherNodes are where node versions besides the one on PATH are looked for.
var otherNodes = []string{
	"/usr/local/n/versions/node/*/bin/node",
	"/usr/local/lib/nodejs/*/bin/node",
	"/opt/node*/bin/node",
}

// Build installs the app's dependencies and builds it.
func Build(ctx context.Context, r bpkit.Request) (map[string]string, error) {
	pkg, err := readPackage(r.BuildDir)
	if err != nil {
		return nil, err
	}
	if !bpkit.IsFile(filepath.Join(r.BuildDir, "package-lock.json")) && !bpkit.IsFile(filepath.Join(r.BuildDir, "npm-shrinkwrap.json")) {
		return nil, fmt.Errorf("package-lock.json is missing: run npm install, commit package-lock.json and push again")
	}
	cfg, err := bpkit.ReadEnv(r.EnvDir)
	if err != nil {
		return nil, err
	}
	bpkit.Step(r.Log, "Installing node engine")
	node, ver, err := pickNode(ctx, pkg.Engines.Node)
	if err != nil {
		return nil, err
	}
	bpkit.Info(r.Log, "engines.node: %s; using node v%s (%s)", orAny(pkg.Engines.Node), ver, node)
	if err := linkNode(r.BuildDir, node); err != nil {
		return nil, err
	}
	env := npmEnv(r, cfg, node)
	npm := func(args ...string) error {
		return bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Env: env, Name: "npm", Args: args})
	}
	bpkit.Step(r.Log, "Installing dependencies")
	if err := npm("ci"); err != nil {
		return nil, err
	}
	if _, ok := pkg.Scripts["build"]; ok {
		bpkit.Step(r.Log, "Build")
		if err := npm("run", "build"); err != nil {
			return nil, err
		}
	}
	bpkit.Step(r.Log, "Pruning devDependencies")
	if err := npm("prune", "--omit=dev"); err != nil {
		return nil, err
	}
	if _, ok := pkg.Scripts["start"]; ok || bpkit.IsFile(filepath.Join(r.BuildDir, "server.js")) {
		return map[string]string{"web": "npm start"}, nil
	}
	return nil, nil
}

func readPackage(dir string) (packageJSON, error) {
	var pkg packageJSON
	b, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return pkg, fmt.Errorf("reading package.json: %w", err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return pkg, fmt.Errorf("package.json is not valid JSON: %w", err)
	}
	return pkg, nil
}

// npmEnv runs npm with the chosen node first on PATH, its cache in the
// build cache, and the app's npm settings.
func npmEnv(r bpkit.Request, cfg map[string]string, node string) []string {
	env := []string{
		"PATH=" + filepath.Dir(node) + string(os.PathListSeparator) + os.Getenv("PATH"),
		"npm_config_cache=" + filepath.Join(r.CacheDir, "npm"),
		"npm_config_update_notifier=false",
		"npm_config_fund=false",
		"npm_config_audit=false",
		"npm_config_loglevel=warn",
	}
	var keys []string
	for k := range cfg {
		if strings.HasPrefix(strings.ToUpper(k), "NPM_CONFIG_") || k == "NODE_OPTIONS" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return append(env, bpkit.Pass(cfg, keys...)...)
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

func orAny(s string) string {
	if s == "" {
		return "(any)"
	}
	return s
}
