package nodejs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// build is one Node.js build in progress.
type build struct {
	r    bpkit.Request
	cfg  map[string]string
	pkg  packageJSON
	pm   manager
	reg  *registry
	dist *nodeDist

	node     version // the node the app builds and runs with
	npmMajor int
	tool     version // of yarn or pnpm, as it runs in the app
	ownPath  bool    // node and the package manager live in the slug's .heroku/node/bin
}

// installTools installs the node engines.node asks for (or takes this
// machine's when it asks for none), and npm, yarn or pnpm at the version
// packageManager or engines asks for.
func (b *build) installTools(ctx context.Context) error {
	r := b.r
	want := strings.TrimSpace(b.pkg.Engines["node"])
	bpkit.Step(r.Log, "Installing binaries")
	bpkit.Info(r.Log, "engines.node (package.json): %s", orUnspecified(want))
	bpkit.Info(r.Log, "engines.npm (package.json):  %s", orUnspecified(b.pkg.Engines["npm"]))
	if b.pm.name != "npm" {
		bpkit.Info(r.Log, "%s: %s (%s)", b.pm.name, b.pm.want, b.pm.from)
	}
	if err := b.chooseNode(ctx, want); err != nil {
		return err
	}

	npmWant := strings.TrimSpace(b.pkg.Engines["npm"])
	if b.pm.name == "npm" && b.pm.want != "" {
		npmWant = b.pm.want
	}
	if npmWant == "" && b.ownPath {
		npmWant = bundledNpm(b.node[0])
	}
	if npmWant != "" {
		v, err := installPackageTool(ctx, r, b.reg, "npm", "npm", npmWant, b.node)
		if err != nil {
			return fmt.Errorf("installing npm %q: %w", npmWant, err)
		}
		b.npmMajor, b.ownPath = v[0], true
	} else {
		out, err := bpkit.Output(ctx, bpkit.Command{Name: "npm", Args: []string{"--version"}, Env: b.env()})
		if err != nil {
			return fmt.Errorf("npm is not usable on this machine (%v): set engines.npm to have it installed", err)
		}
		v, err := parseVersion(out)
		if err != nil {
			return fmt.Errorf("npm --version: %w", err)
		}
		b.npmMajor = v[0]
		bpkit.Info(r.Log, "Using this machine's npm %s", v)
	}

	if b.pm.name != "npm" {
		v, err := installPackageTool(ctx, r, b.reg, b.pm.name, b.pm.tool(), b.pm.want, b.node)
		if err != nil {
			return fmt.Errorf("installing %s %q (%s): %w", b.pm.name, b.pm.want, b.pm.from, err)
		}
		b.tool, b.ownPath = v, true
		if err := b.followYarnPath(ctx); err != nil {
			return err
		}
	}
	return nil
}

// chooseNode installs the node engines.node (want) asks for. Without one
// it takes this machine's node, unless the package manager's own
// engines.node needs another (pnpm 11 needs >=22.13): then the newest node
// of the default line that meets it, or else the newest that does.
func (b *build) chooseNode(ctx context.Context, want string) error {
	r := b.r
	if want != "" {
		return b.installNode(ctx, want, nil, "engines.node "+strconv.Quote(want))
	}
	need, who := b.managerNeedsNode(ctx)
	if node, ver, err := pickNode(ctx, need); err == nil {
		bpkit.Info(r.Log, "Using this machine's node v%s (set engines.node to choose a version)", ver)
		if err := linkNode(r.BuildDir, node); err != nil {
			return err
		}
		b.node, _ = parseVersion(ver)
		return nil
	}
	if need == "" {
		return b.installNode(ctx, defaultNode, nil, "the default, "+defaultNode)
	}
	bpkit.Info(r.Log, "%s needs node %q (its engines.node), which this machine's node does not meet: installing one that does (set engines.node to choose)", who, need)
	fits := func(v version) bool { ok, err := satisfies(v, need); return err == nil && ok }
	err := b.installNode(ctx, defaultNode, fits, fmt.Sprintf("the default, %s, for %s's %q", defaultNode, who, need))
	if err != nil && strings.Contains(err.Error(), "no version") {
		err = b.installNode(ctx, need, nil, who+"'s engines.node "+strconv.Quote(need))
	}
	return err
}

func (b *build) installNode(ctx context.Context, rng string, fits func(version) bool, why string) error {
	v, err := installNode(ctx, b.r, b.reg, b.dist, rng, fits)
	if err != nil {
		return fmt.Errorf("installing node (%s): %w", why, err)
	}
	b.node, b.ownPath = v, true
	return nil
}

// managerNeedsNode is the node range the release of yarn or pnpm (or of
// npm, when packageManager names one) the app asks for declares in its
// engines.node, and that release ("pnpm 11.0.0"); "" when it declares
// none or the registry cannot say (installing it then fails saying why).
func (b *build) managerNeedsNode(ctx context.Context) (string, string) {
	if b.pm.want == "" {
		return "", ""
	}
	meta, err := b.reg.metadata(ctx, b.pm.tool())
	if err != nil {
		return "", ""
	}
	pv, err := meta.resolve(b.pm.want, nil)
	if err != nil {
		return "", ""
	}
	need := strings.TrimSpace(pv.Engines["node"])
	if _, err := satisfies(version{}, need); err != nil {
		return "", "" // a range this buildpack cannot read: npm only warns
	}
	return need, b.pm.name + " " + pv.Version
}

// followYarnPath learns the version of yarn an app runs when its
// .yarnrc.yml names a yarn release of its own (yarnPath), to which the
// installed yarn hands every command, as on Heroku.
func (b *build) followYarnPath(ctx context.Context) error {
	if !b.pm.yarnPath {
		return nil
	}
	out, err := bpkit.Output(ctx, bpkit.Command{Dir: b.r.BuildDir, Env: b.env(), Name: b.command("yarn"), Args: []string{"--version"}})
	if err != nil {
		return fmt.Errorf("running the yarn release .yarnrc.yml's yarnPath names: %w: commit that file, or remove yarnPath", err)
	}
	v, err := parseVersion(out)
	if err != nil {
		return fmt.Errorf("yarn --version (yarnPath): %w", err)
	}
	if v != b.tool {
		bpkit.Info(b.r.Log, "Using yarn %s, the release .yarnrc.yml's yarnPath names", v)
	}
	b.tool = v
	b.pm.berry = v[0] >= 2 // yarn 1 hands a yarnPath to the release too
	return nil
}

// dependencies runs the app's scripts around installing its dependencies
// and pruning its devDependencies, as Heroku does.
func (b *build) dependencies(ctx context.Context) error {
	r := b.r
	fi, err := os.Lstat(filepath.Join(r.BuildDir, "node_modules"))
	checkedIn := err == nil && fi.IsDir()
	if err := b.script(ctx, "heroku-prebuild"); err != nil {
		return err
	}
	if err := b.restoreCache(); err != nil {
		return err
	}
	if checkedIn && b.pm.name == "npm" {
		// As Heroku: the app's own modules are kept, their native parts
		// built for this node, and what package.json adds installed.
		bpkit.Step(r.Log, "Prebuild detected (node_modules already exists)")
		bpkit.Info(r.Log, "Rebuilding any native modules")
		if err := b.pmRun(ctx, "rebuild"); err != nil {
			return fmt.Errorf("rebuilding the checked-in node_modules: %w", err)
		}
		bpkit.Step(r.Log, "Installing any new modules (package.json)")
	} else {
		bpkit.Step(r.Log, "Installing dependencies")
	}
	if b.pm.name == "npm" && b.pm.lockfile == "" {
		bpkit.Info(r.Log, "No package-lock.json: installing with npm install, so versions may differ from build to build.")
		bpkit.Info(r.Log, "Commit the package-lock.json npm install writes to pin them.")
	}
	prodOnly := b.setting("NPM_CONFIG_PRODUCTION") == "true" || b.setting("YARN_PRODUCTION") == "true"
	args := b.pm.installArgs(b.npmMajor, !prodOnly, checkedIn)
	bpkit.Info(r.Log, "Running: %s %s", b.pm.name, strings.Join(args, " "))
	if err := b.pmRun(ctx, args...); err != nil {
		return b.installFailed(err)
	}
	build := "build"
	if _, ok := b.pkg.Scripts["heroku-postbuild"]; ok {
		build = "heroku-postbuild"
	}
	if err := b.script(ctx, build); err != nil {
		return err
	}
	if err := b.prune(ctx, prodOnly); err != nil {
		return err
	}
	if err := b.saveCache(); err != nil {
		return err
	}
	return b.script(ctx, "heroku-cleanup")
}

// installFailed adds what to do to a failed install.
func (b *build) installFailed(err error) error {
	switch {
	case b.pm.name == "npm" && b.pm.lockfile != "":
		return fmt.Errorf("%w: if %s is out of step with package.json, run npm install, commit %s and push again", err, b.pm.lockfile, b.pm.lockfile)
	case b.pm.name == "yarn" && b.pm.berry:
		return fmt.Errorf("%w: if yarn.lock is out of step with package.json, run yarn install, commit yarn.lock and push again", err)
	case b.pm.lockfile != "":
		return fmt.Errorf("%w: if %s is out of step with package.json, run %s install, commit %s and push again", err, b.pm.lockfile, b.pm.name, b.pm.lockfile)
	}
	return err
}

// prune removes devDependencies unless the app keeps them.
func (b *build) prune(ctx context.Context, prodOnly bool) error {
	r := b.r
	bpkit.Step(r.Log, "Pruning devDependencies")
	switch {
	case prodOnly:
		bpkit.Info(r.Log, "Skipping: only production dependencies were installed")
		return nil
	case b.setting("NODE_ENV") != "production":
		bpkit.Info(r.Log, "Skipping because NODE_ENV is %q, not production", b.setting("NODE_ENV"))
		return nil
	case b.setting("NPM_CONFIG_PRODUCTION") == "false", b.setting("YARN_PRODUCTION") == "false":
		bpkit.Info(r.Log, "Skipping because NPM_CONFIG_PRODUCTION or YARN_PRODUCTION is false")
		return nil
	}
	if s := b.lifecycleScript(); b.pm.name == "pnpm" && b.tool.cmp(version{8, 15, 6}) < 0 && s != "" {
		// pnpm prune runs them, before 8.15.6, without the
		// devDependencies they may need.
		bpkit.Info(r.Log, "Pruning skipped due to presence of lifecycle scripts (%s): pnpm %s would run them; pnpm 8.15.6 and later do not", s, b.tool)
		return nil
	}
	args := b.pm.pruneArgs(b.npmMajor, b.tool)
	if args == nil {
		bpkit.Info(r.Log, "Skipping because yarn %d prunes only with its workspace-tools plugin: devDependencies stay in the slug.", b.tool[0])
		bpkit.Info(r.Log, "To prune them, run yarn plugin import workspace-tools and commit .yarnrc.yml and .yarn/plugins.")
		return nil
	}
	if err := b.pmRun(ctx, args...); err != nil {
		return fmt.Errorf("pruning devDependencies: %w", err)
	}
	return nil
}

// lifecycleScript names an install lifecycle script of the app, "" when
// it has none.
func (b *build) lifecycleScript() string {
	for _, s := range []string{"pnpm:devPreinstall", "preinstall", "install", "postinstall"} {
		if _, ok := b.pkg.Scripts[s]; ok {
			return s
		}
	}
	return ""
}

// script runs a package.json script if the app has it.
func (b *build) script(ctx context.Context, name string) error {
	body, ok := b.pkg.Scripts[name]
	if !ok {
		return nil
	}
	bpkit.Step(b.r.Log, "Running %s", name)
	if strings.TrimSpace(body) == "" {
		bpkit.Info(b.r.Log, "Skipping: the %s script is empty", name)
		return nil
	}
	if err := b.pmRun(ctx, "run", name); err != nil {
		return fmt.Errorf("the %s script failed: %w", name, err)
	}
	return nil
}

func (b *build) pmRun(ctx context.Context, args ...string) error {
	return bpkit.Run(ctx, b.r.Log, bpkit.Command{Dir: b.r.BuildDir, Env: b.env(), Name: b.command(b.pm.name), Args: args})
}

// command is the path of a command: the slug's own where it has one.
func (b *build) command(name string) string {
	p := filepath.Join(b.r.BuildDir, toolsDir, "node", "bin", name)
	if bpkit.Exists(p) {
		return p
	}
	return name
}

// setting is a build setting from the app's config, with Heroku's
// defaults.
func (b *build) setting(k string) string {
	if v, ok := b.cfg[k]; ok {
		return strings.TrimSpace(v)
	}
	if k == "NODE_ENV" {
		return "production"
	}
	return ""
}

// notPassed are config vars a build does not see, as on Heroku.
var notPassed = map[string]bool{
	"PATH": true, "GIT_DIR": true, "CPATH": true, "CPPATH": true, "LD_PRELOAD": true,
	"LIBRARY_PATH": true, "LD_LIBRARY_PATH": true, "HOME": true, "TMPDIR": true,
	"BUILDPACK": true, "BUILDPACK_URL": true,
}

// env is the environment of the package manager and the app's scripts:
// the app's config vars, NODE_ENV, caches in the build cache, and the
// slug's node first on PATH.
func (b *build) env() []string {
	path := os.Getenv("PATH")
	if b.ownPath {
		path = filepath.Join(b.r.BuildDir, toolsDir, "node", "bin") + string(os.PathListSeparator) + path
	}
	cache := b.r.CacheDir
	env := []string{
		"PATH=" + path,
		"NODE_ENV=" + b.setting("NODE_ENV"),
		"npm_config_cache=" + filepath.Join(cache, "npm"),
		"npm_config_update_notifier=false",
		"npm_config_fund=false",
		"npm_config_audit=false",
		"npm_config_loglevel=warn",
		"YARN_CACHE_FOLDER=" + filepath.Join(cache, "yarn"),
		"YARN_GLOBAL_FOLDER=" + filepath.Join(cache, "yarn-berry"),
		"YARN_ENABLE_GLOBAL_CACHE=1",
		"COREPACK_ENABLE_STRICT=0",
	}
	if ca := caFile(); ca != "" {
		env = append(env, "NODE_EXTRA_CA_CERTS="+ca)
		if b.node != (version{}) && b.node[0] < 8 {
			// Before 7.3 node read no NODE_EXTRA_CA_CERTS: npm is told.
			env = append(env, "npm_config_cafile="+ca)
		}
	}
	if !(b.pm.berry && b.tool[0] == 2) { // yarn 2 refuses a setting it lacks
		env = append(env, "YARN_ENABLE_TELEMETRY=0")
	}
	if b.pm.name == "pnpm" {
		store := filepath.Join(cache, "pnpm-store")
		env = append(env, "npm_config_store_dir="+store, "pnpm_config_store_dir="+store) // pnpm 11 reads the second
	}
	var keys []string
	for k := range b.cfg {
		if !notPassed[k] && k != "NODE_ENV" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return append(env, bpkit.Pass(b.cfg, keys...)...)
}

// caFile is the host's bundle of trusted certificates, which the node
// from the registry (with its own built-in list) is told to trust too: a
// host behind a TLS-inspecting proxy trusts that proxy there.
func caFile() string {
	for _, k := range []string{"NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	for _, f := range []string{"/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"} {
		if bpkit.IsFile(f) {
			return f
		}
	}
	return ""
}

// restoreCache brings back package.json's cacheDirectories from the last
// build.
func (b *build) restoreCache() error {
	dirs, err := b.cacheDirectories()
	if err != nil || len(dirs) == 0 {
		return err
	}
	bpkit.Step(b.r.Log, "Restoring cache")
	for _, d := range dirs {
		src := filepath.Join(b.r.CacheDir, "dirs", d)
		dst := filepath.Join(b.r.BuildDir, d)
		if !bpkit.Exists(src) {
			bpkit.Info(b.r.Log, "- %s (not cached yet)", d)
			continue
		}
		if bpkit.Exists(dst) {
			bpkit.Info(b.r.Log, "- %s (exists in the app, not restored)", d)
			continue
		}
		if err := copyTree(src, dst); err != nil {
			return fmt.Errorf("restoring %s from the build cache: %w", d, err)
		}
		bpkit.Info(b.r.Log, "- %s", d)
	}
	return nil
}

// saveCache keeps package.json's cacheDirectories for the next build.
func (b *build) saveCache() error {
	dirs, err := b.cacheDirectories()
	if err != nil || len(dirs) == 0 {
		return err
	}
	bpkit.Step(b.r.Log, "Caching build")
	for _, d := range dirs {
		dst := filepath.Join(b.r.CacheDir, "dirs", d)
		os.RemoveAll(dst)
		src := filepath.Join(b.r.BuildDir, d)
		if fi, err := os.Lstat(src); err != nil || !fi.IsDir() {
			bpkit.Info(b.r.Log, "- %s (nothing to cache)", d)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if err := copyTree(src, dst); err != nil {
			return fmt.Errorf("caching %s: %w", d, err)
		}
		bpkit.Info(b.r.Log, "- %s", d)
	}
	return nil
}

// cacheDirectories are the app's cacheDirectories, each a path inside it.
func (b *build) cacheDirectories() ([]string, error) {
	var out []string
	for _, d := range b.pkg.CacheDirectories {
		c := filepath.Clean(d)
		if c == "." || filepath.IsAbs(c) || c == ".." || strings.HasPrefix(c, ".."+string(filepath.Separator)) {
			return nil, errors.New("package.json's cacheDirectories may only name directories inside the app: fix " + fmt.Sprintf("%q", d))
		}
		out = append(out, c)
	}
	return out, nil
}

// writeProfile sets NODE_ENV to production for the app's processes unless
// its config sets it.
func writeProfile(buildDir string) error {
	dir := filepath.Join(buildDir, ".profile.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "nodejs.sh"), []byte("export NODE_ENV=${NODE_ENV:-production}\n"), 0o644)
}

func orUnspecified(s string) string {
	if strings.TrimSpace(s) == "" {
		return "unspecified"
	}
	return s
}
