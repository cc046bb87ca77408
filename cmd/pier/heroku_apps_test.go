package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

// TestHerokuApps pushes apps written as for Heroku through a real agent
// and checks each through the proxy: npm without a lockfile, an older
// Node.js major from engines.node, yarn 4 from packageManager,
// node_modules checked in, a Go module whose cmd/* packages become its
// process types with a linker symbol from config, Python with uv.lock and
// .python-version, and Django's collectstatic. A push with two lockfiles
// fails with the cause and leaves the live release serving.
func TestHerokuApps(t *testing.T) {
	needE2E(t)
	requireBinary(t, "node")
	requireBinary(t, "npm")
	requireBinary(t, "go")
	a := startAgent(t, agentOpts{})
	// No package index is reachable: pip takes the tests' wheels from a
	// directory the build's user can read.
	wheels := buildpacktest.Wheels(t, reachableTempDir(t))
	if err := os.Chmod(wheels, 0o755); err != nil { // pip lists it
		t.Fatal(err)
	}
	offline := []string{"PIP_NO_INDEX=1", "PIP_FIND_LINKS=" + wheels}
	fixture := func(name string) string {
		dir, err := filepath.Abs(filepath.Join("..", "..", "buildpacks", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	for _, tc := range []struct {
		app, dir string
		config   []string
		push     []string
		body     []string
		path     string // "" is /
	}{
		{"nolock", "node-nolock-app", nil,
			[]string{"No package-lock.json", "Running: npm install --include=dev", "Released v1"},
			[]string{"ms 1m dev pruned built by build NODE_ENV=production"}, ""},
		{"node14", "node14-app", nil,
			[]string{"-----> Installing node 14.", "-----> Installing npm 6.", "Released v1"},
			[]string{"node v14.", "ms 1m dev pruned built by build"}, ""},
		{"yarn4", "node-yarn4-app", nil,
			[]string{"-----> Installing yarn 4.5.3", "Released v1"},
			[]string{"ms 1m dev pruned built by build"}, ""},
		{"gocmd", "go-cmd-app", []string{"GO_LINKER_SYMBOL=main.release", "GO_LINKER_VALUE=v7"},
			[]string{"Procfile declares types -> web, other", "Released v"},
			[]string{"web built by go", "release v7"}, ""},
		{"checkedin", "node-modules-app", []string{"NODE_OPTIONS=--no-deprecation"},
			[]string{"Prebuild detected (node_modules already exists)", "Released v"},
			[]string{"hello, node, from a checked-in module; rebuilt by npm rebuild; ms 1m; built with noDeprecation=true"}, ""},
		{"uv", "python-uv-app", offline,
			[]string{"-----> Installing python 3.11.", "-----> Installing dependencies from uv.lock with pip", "Released v"},
			[]string{"hello, python on 3.11."}, ""},
		{"django", "python-django-app", append([]string{"SECRET_KEY=s3cret"}, offline...),
			[]string{"-----> $ python manage.py collectstatic --noinput", "(Django 5.1, SECRET_KEY set)", "Released v"},
			[]string{"body { color: teal; }"}, "/site.css"},
	} {
		t.Run(tc.app, func(t *testing.T) {
			if strings.HasPrefix(tc.dir, "python") {
				requireWorking(t, "python3", "-c", "import venv, ensurepip")
			}
			a := a.in(t)
			a.mustPier("apps", "create", tc.app)
			if len(tc.config) > 0 {
				a.mustPier(append([]string{"config", "set", "-a", tc.app}, tc.config...)...)
			}
			repo := newRepoFrom(t, fixture(tc.dir))
			repo.remote(a, tc.app, a.token)
			pushShows(t, repo, tc.push...)
			path := tc.path
			if path == "" {
				path = "/"
			}
			code, body, _ := a.get(tc.app, path)
			for _, w := range tc.body {
				if code != 200 || !strings.Contains(body, w) {
					t.Errorf("GET / = %d %q, want it to hold %q", code, body, w)
				}
			}
		})
	}
	t.Run("two lockfiles", func(t *testing.T) {
		a := a.in(t)
		repo := newRepoFrom(t, fixture("node-nolock-app"))
		repo.write("yarn.lock", "")
		repo.write("package-lock.json", "{}")
		pushFails(t, a, repo, "nolock", "two lockfiles, package-lock.json (npm) and yarn.lock (yarn)")
		checkStillServing(t, a, "nolock", "/", "ms 1m", 1)
	})
}

// TestHerokuAppsBadInput pushes broken Heroku apps over a live release
// through a real agent with a short build timeout: a postinstall script
// that hangs, an npm registry and a Go module proxy that cannot be
// reached. Each push fails naming the cause; the live release keeps
// answering.
func TestHerokuAppsBadInput(t *testing.T) {
	needE2E(t)
	requireBinary(t, "node")
	requireBinary(t, "npm")
	requireBinary(t, "go")
	a := startAgent(t, agentOpts{extra: []string{"PIER_BUILD_TIMEOUT=25s"}})
	fixture := func(name string) string {
		dir, err := filepath.Abs(filepath.Join("..", "..", "buildpacks", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	a.mustPier("apps", "create", "live")
	site := newRepoFrom(t, fixture("static-app"))
	site.remote(a, "live", a.token)
	pushShows(t, site, "Released v1")
	const page = "Hello from a static site"
	checkStillServing(t, a, "live", "/", page, 1)

	t.Run("a postinstall that hangs", func(t *testing.T) {
		repo := newRepoFrom(t, fixture("node-nolock-app"))
		repo.write("package.json", `{"name": "hang", "version": "1.0.0", "scripts": {"postinstall": "sleep 3600", "start": "node server.js"}, "dependencies": {"ms": "^2.1.3"}}`)
		start := time.Now()
		pushFails(t, a, repo, "live", "Running: npm install", "the build took longer than 25s and was stopped")
		if d := time.Since(start); d > 90*time.Second {
			t.Errorf("the push took %s to fail", d)
		}
		checkStillServing(t, a, "live", "/", page, 1)
	})
	t.Run("unreachable registries", func(t *testing.T) {
		closed := "http://127.0.0.1:1" // nothing listens on port 1
		a.mustPier("config", "set", "-a", "live", "NPM_CONFIG_REGISTRY="+closed+"/", "GOPROXY="+closed)
		node := newRepoFrom(t, fixture("node18-app"))
		pushFails(t, a, node, "live", "the npm registry 127.0.0.1:1 is unreachable", "set NPM_CONFIG_REGISTRY to a registry it can reach")
		checkStillServing(t, a, "live", "/", page, 2)
		gomod := newRepoFrom(t, fixture("go-pinned-app"))
		pushFails(t, a, gomod, "live", "the Go module proxy 127.0.0.1:1 is unreachable", "set GOPROXY to a proxy it can reach")
		checkStillServing(t, a, "live", "/", page, 2)
	})
}
