package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

// TestBuildpacks builds a real app of every kind but Go (TestSpine has Go)
// on one agent, pushed with git and checked through the proxy: Node.js with
// a lockfile, Python with wheels from a local directory (no package index
// is reachable), a static site, and a classic Heroku buildpack given as a
// git URL and as a directory in the agent's buildpacks dir. Pushes no buildpack can build fail clearly
// and leave the live release serving.
func TestBuildpacks(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	t.Run("nodejs", func(t *testing.T) { testNodeApp(t, a.in(t)) })
	t.Run("python", func(t *testing.T) { testPythonApp(t, a.in(t)) })
	t.Run("static", func(t *testing.T) { testStaticApp(t, a.in(t)) })
	t.Run("classic", func(t *testing.T) { testClassicApp(t, a.in(t)) })
}

// in returns a copy of a whose helpers fail t, so that a subtest can use
// them.
func (a *agentProc) in(t *testing.T) *agentProc {
	c := *a
	c.t = t
	return &c
}

func testNodeApp(t *testing.T, a *agentProc) {
	requireBinary(t, "node")
	requireBinary(t, "npm")
	a.mustPier("apps", "create", "nodeapp")
	repo := newRepo(t, "node")
	repo.remote(a, "nodeapp", a.token)
	out := pushShows(t, repo, "Node.js app detected", "Installing dependencies", "Released v1")
	if !strings.Contains(out, "node-fixture@1.0.0 build") {
		t.Errorf("the push output does not show npm run build:\n%s", out)
	}
	code, body, _ := a.get("nodeapp", "/")
	if code != 200 || !strings.Contains(body, "hello from node v") || !strings.Contains(body, "on web.1\nbuilt by npm run build") {
		t.Errorf("GET / = %d %q, want the node server's answer with what the build wrote", code, body)
	}
	checkBuildpack(t, a, "nodeapp", "Node.js", 1)
}

func testPythonApp(t *testing.T, a *agentProc) {
	requireWorking(t, "python3", "-c", "import venv, ensurepip")
	a.mustPier("apps", "create", "pyapp")
	a.mustPier("config", "set", "-a", "pyapp", "PIP_NO_INDEX=1", "PIP_FIND_LINKS="+makeWheel(t))
	repo := newRepo(t, "python")
	repo.remote(a, "pyapp", a.token)
	pushShows(t, repo, "Python app detected", "Successfully installed greetlib-1.0", "Released v1")
	if code, body, _ := a.get("pyapp", "/"); code != 200 || body != "hello, python on web.1\n" {
		t.Errorf("GET / = %d %q, want greetlib's greeting", code, body)
	}
	checkBuildpack(t, a, "pyapp", "Python", 1)
}

func testStaticApp(t *testing.T, a *agentProc) {
	a.mustPier("apps", "create", "site")
	repo := newRepo(t, "static")
	repo.remote(a, "site", a.token)
	pushShows(t, repo, "Static app detected", "PIER_STATIC_SPA=1", "Released v1")
	checkBuildpack(t, a, "site", "Static", 1)

	resp, body := a.request("site", "/", nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !strings.Contains(body, "<h1>Hello from a static site</h1>") || etag == "" {
		t.Fatalf("GET / = %d, ETag %q, body %q: want index.html with an ETag", resp.StatusCode, etag, body)
	}
	resp, body = a.request("site", "/", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("GET / with If-None-Match %s = %d %q, want 304 and no body", etag, resp.StatusCode, body)
	}
	js, err := os.ReadFile(filepath.Join("testdata", "apps", "static", "public", "assets", "app.js"))
	if err != nil {
		t.Fatal(err)
	}
	resp, body = a.request("site", "/assets/app.js", map[string]string{"Accept-Encoding": "gzip"})
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || gunzip(t, body) != string(js) {
		t.Errorf("GET /assets/app.js asking for gzip = %d, Content-Encoding %q, %d bytes: want app.js gzipped",
			resp.StatusCode, resp.Header.Get("Content-Encoding"), len(body))
	}
	resp, body = a.request("site", "/assets/app.js", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || body != string(js) {
		t.Errorf("GET /assets/app.js without gzip = %d, Content-Encoding %q: want app.js as it is", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	if code, body, _ := a.get("site", "/no/such/page"); code != 404 || !strings.Contains(body, "Not here") {
		t.Errorf("GET an unknown page = %d %q, want 404 with 404.html", code, body)
	}

	a.mustPier("config", "set", "-a", "site", "PIER_STATIC_SPA=1")
	if code, body, _ := a.get("site", "/no/such/page"); code != 200 || !strings.Contains(body, "Hello from a static site") {
		t.Errorf("with PIER_STATIC_SPA=1 an unknown page = %d %q, want index.html", code, body)
	}
	if code, _, _ := a.get("site", "/assets/missing.js"); code != 404 {
		t.Errorf("with PIER_STATIC_SPA=1 a missing file = %d, want 404", code)
	}
	checkBuildpack(t, a, "site", "Static", 2)

	t.Run("nothing detects the app", func(t *testing.T) {
		bad := newRepoWith(t, map[string]string{"README.txt": "nothing to build here\n"})
		out := pushFails(t, a, bad, "site", "no buildpack detected this app",
			"tried Go (", "Node.js (", "Python (", "Static (", "Procfile (", "add a Procfile or set BUILDPACK")
		if strings.Contains(out, "Released") {
			t.Errorf("a push nothing detects released something:\n%s", out)
		}
		checkStillServing(t, a, "site", "/", "Hello from a static site", 2)
	})
	t.Run("a Procfile with a syntax error", func(t *testing.T) {
		bad := newRepoWith(t, map[string]string{
			"public/index.html": "<h1>never served</h1>\n",
			"Procfile":          "web: pier static-serve public\nthis line has no colon\n",
		})
		pushFails(t, a, bad, "site", "Procfile line 2", "is not of the form", "fix the Procfile and push again")
		checkStillServing(t, a, "site", "/", "Hello from a static site", 2)
	})
}

func testClassicApp(t *testing.T, a *agentProc) {
	requireBinary(t, "perl") // the fixture buildpack's web server is a Perl script
	bpDir, err := filepath.Abs(filepath.Join("testdata", "buildpacks", "hello-classic"))
	if err != nil {
		t.Fatal(err)
	}
	bpRepo := newRepoFrom(t, bpDir)
	a.mustPier("apps", "create", "classic")
	a.mustPier("config", "set", "-a", "classic", "BUILDPACK="+buildpacktest.ServeGit(t, bpRepo.dir), "GREETING=hello")
	repo := newRepo(t, "classic")
	repo.remote(a, "classic", a.token)
	pushShows(t, repo, "Using buildpack: Hello Classic", "Compiling hello", "installed bin/web", "Released v1")
	if code, body, _ := a.get("classic", "/"); code != 200 || body != "hello from a classic buildpack: classic fixture\n" {
		t.Errorf("GET / = %d %q, want the classic buildpack's server", code, body)
	}
	checkBuildpack(t, a, "classic", "Hello Classic", 1)

	live := 1
	plugins := filepath.Join(a.dataDir, "buildpacks")
	for url, wants := range map[string][]string{
		"http://127.0.0.1:1/buildpack.git": {"fetching buildpack http://127.0.0.1:1/buildpack.git", "git clone failed", "check the URL in BUILDPACK"},
		"file://" + bpRepo.dir:             {"only https, http, git and ssh URLs may name a buildpack"},
		bpDir:                              {"buildpack paths may only name a directory in " + plugins},
	} {
		t.Run("BUILDPACK="+url, func(t *testing.T) {
			a.mustPier("config", "set", "-a", "classic", "BUILDPACK="+url)
			live++
			repo.write("hello.classic", "classic fixture, changed for "+url+"\n")
			pushFails(t, a, repo, "classic", wants...)
			checkStillServing(t, a, "classic", "/", "hello from a classic buildpack: classic fixture\n", live)
		})
	}

	t.Run("a buildpack directory", func(t *testing.T) {
		inPlugins := filepath.Join(plugins, "hello-classic")
		if err := os.CopyFS(inPlugins, os.DirFS(bpDir)); err != nil {
			t.Fatal(err)
		}
		a.mustPier("config", "set", "-a", "classic", "BUILDPACK="+inPlugins, "GREETING=howdy")
		live++
		repo.write("hello.classic", "classic fixture, second push\n")
		pushShows(t, repo, "Using buildpack: Hello Classic", "Compiling hello", fmt.Sprintf("Released v%d", live+1))
		if code, body, _ := a.get("classic", "/"); code != 200 || body != "howdy from a classic buildpack: classic fixture, second push\n" {
			t.Errorf("GET / = %d %q, want the second build with the new GREETING", code, body)
		}
		checkBuildpack(t, a, "classic", "Hello Classic", live+1)
	})
}

// pushShows pushes main and fails t unless the push succeeds and its output
// holds every one of wants.
func pushShows(t *testing.T, repo *gitRepo, wants ...string) string {
	t.Helper()
	out, err := repo.push("main")
	if err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("the push output lacks %q:\n%s", w, out)
		}
	}
	return out
}

// pushFails force-pushes repo's main to app and fails t unless git
// reports a failure whose output holds every one of wants, and no release
// was made.
func pushFails(t *testing.T, a *agentProc, repo *gitRepo, app string, wants ...string) string {
	t.Helper()
	before := releasesOf(t, a, app)
	repo.remote(a, app, a.token)
	out, err := repo.push("+main")
	if err == nil {
		t.Fatalf("the push succeeded, want a failure:\n%s", out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("the failed push's output lacks %q:\n%s", w, out)
		}
	}
	if after := releasesOf(t, a, app); len(after) != len(before) {
		t.Errorf("a failed push made a release: %d releases before, %d after", len(before), len(after))
	}
	return out
}

// checkBuildpack checks that apps info shows the buildpack of the live
// release, which is vN.
func checkBuildpack(t *testing.T, a *agentProc, app, buildpack string, live int) {
	t.Helper()
	var info api.App
	a.pierJSON(&info, "apps", "info", "-a", app)
	if info.Buildpack != buildpack || info.LiveRelease != live {
		t.Errorf("apps info --json: buildpack %q, live v%d; want %q, v%d", info.Buildpack, info.LiveRelease, buildpack, live)
	}
	if out := a.mustPier("apps", "info", "-a", app); !strings.Contains(out, buildpack) {
		t.Errorf("apps info does not show the buildpack %q:\n%s", buildpack, out)
	}
}

// checkStillServing checks that app still answers path with want and that
// vN is still live.
func checkStillServing(t *testing.T, a *agentProc, app, path, want string, live int) {
	t.Helper()
	if code, body, _ := a.get(app, path); code != 200 || !strings.Contains(body, want) {
		t.Errorf("after a failed push GET %s = %d %q, want %q", path, code, body, want)
	}
	var info api.App
	a.pierJSON(&info, "apps", "info", "-a", app)
	if info.LiveRelease != live {
		t.Errorf("after a failed push v%d is live, want v%d", info.LiveRelease, live)
	}
}

// rawClient leaves Accept-Encoding and the body as the proxy sent them.
var rawClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableCompression: true}}

// request fetches path from app through the proxy with extra headers.
func (a *agentProc) request(app, path string, hdr map[string]string) (*http.Response, string) {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+a.httpAddr+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Host = app + ".localhost"
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := rawClient.Do(req)
	if err != nil {
		a.t.Fatalf("GET %s%s through the proxy: %v", app, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("reading %s%s: %v", app, path, err)
	}
	return resp, string(b)
}

func gunzip(t *testing.T, s string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(s))
	if err != nil {
		t.Errorf("the body is not gzip: %v", err)
		return ""
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Errorf("the body is not gzip: %v", err)
	}
	return string(b)
}

// newRepoWith makes a git checkout holding files.
func newRepoWith(t *testing.T, files map[string]string) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return initRepo(t, dir)
}

// newRepoFrom makes a git checkout of a copy of dir.
func newRepoFrom(t *testing.T, src string) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	return initRepo(t, dir)
}

func initRepo(t *testing.T, dir string) *gitRepo {
	t.Helper()
	r := &gitRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main")
	r.commit("initial")
	return r
}

// requireWorking skips the test when `name args...` fails, and fails it
// when PIER_REQUIRE names name.
func requireWorking(t *testing.T, name string, args ...string) {
	t.Helper()
	path := requireBinary(t, name)
	out, err := exec.Command(path, args...).CombinedOutput()
	if err == nil {
		return
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but `%s %s` fails: %v\n%s", name, name, strings.Join(args, " "), err, out)
		}
	}
	t.Skipf("%s is not usable here (`%s %s`: %v): skipping", name, name, strings.Join(args, " "), err)
}

// makeWheel writes greetlib-1.0-py3-none-any.whl into a fresh directory,
// for pip to find with PIP_FIND_LINKS.
func makeWheel(t *testing.T) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := []struct{ name, body string }{
		{"greetlib/__init__.py", "def greet(who):\n    return 'hello, ' + who\n"},
		{"greetlib-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: greetlib\nVersion: 1.0\n"},
		{"greetlib-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: pier-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{"greetlib-1.0.dist-info/RECORD", "greetlib/__init__.py,,\ngreetlib-1.0.dist-info/METADATA,,\ngreetlib-1.0.dist-info/WHEEL,,\ngreetlib-1.0.dist-info/RECORD,,\n"},
	}
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := reachableTempDir(t)
	if err := os.Chmod(dir, 0o755); err != nil { // the build's user lists it
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "greetlib-1.0-py3-none-any.whl"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
