package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestHerokuApps pushes apps written as for Heroku through a real agent
// and checks each through the proxy: npm without a lockfile, an older
// Node.js major from engines.node, yarn 4 from packageManager, and a Go
// module whose cmd/* packages become its process types with a linker
// symbol from config. A push with two lockfiles fails with the cause and
// leaves the live release serving.
func TestHerokuApps(t *testing.T) {
	needE2E(t)
	requireBinary(t, "node")
	requireBinary(t, "npm")
	requireBinary(t, "go")
	a := startAgent(t, agentOpts{})
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
	}{
		{"nolock", "node-nolock-app", nil,
			[]string{"No package-lock.json", "Running: npm install --include=dev", "Released v1"},
			[]string{"ms 1m dev pruned built by build NODE_ENV=production"}},
		{"node14", "node14-app", nil,
			[]string{"-----> Installing node 14.", "-----> Installing npm 6.", "Released v1"},
			[]string{"node v14.", "ms 1m dev pruned built by build"}},
		{"yarn4", "node-yarn4-app", nil,
			[]string{"-----> Installing yarn 4.5.3", "Released v1"},
			[]string{"ms 1m dev pruned built by build"}},
		{"gocmd", "go-cmd-app", []string{"GO_LINKER_SYMBOL=main.release", "GO_LINKER_VALUE=v7"},
			[]string{"Procfile declares types -> web, other", "Released v"},
			[]string{"web built by go", "release v7"}},
	} {
		t.Run(tc.app, func(t *testing.T) {
			a := a.in(t)
			a.mustPier("apps", "create", tc.app)
			if len(tc.config) > 0 {
				a.mustPier(append([]string{"config", "set", "-a", tc.app}, tc.config...)...)
			}
			repo := newRepoFrom(t, fixture(tc.dir))
			repo.remote(a, tc.app, a.token)
			pushShows(t, repo, tc.push...)
			code, body, _ := a.get(tc.app, "/")
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
