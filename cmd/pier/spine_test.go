package main

import (
	"crypto/rand"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestSpine is the quickstart end to end: create an app, push a Go app with
// the real git client, reach it through the proxy, read it back with the CLI
// (tables and --json) and its logs, push again for v2, and check that bad
// input fails clearly and changes nothing.
func TestSpine(t *testing.T) {
	needE2E(t)
	// A relative data dir, as `make run` uses: git and the hooks run
	// elsewhere and must still find the repositories.
	a := startAgent(t, agentOpts{relative: true})

	out := a.mustPier("apps", "create", "hello")
	for _, want := range []string{"/git/hello.git", "http://hello.localhost:" + portOfAddr(a.httpAddr)} {
		if !strings.Contains(out, want) {
			t.Fatalf("apps create printed %q, want it to contain %q", out, want)
		}
	}
	t.Run("bad app names", func(t *testing.T) {
		for _, name := range []string{"Hello", "../etc", "a", "x_y", strings.Repeat("a", 31), "pier"} {
			r := a.pier("apps", "create", name)
			if r.code == 0 || r.stderr == "" {
				t.Errorf("apps create %q: exit %d, stderr %q; want a failure with a message", name, r.code, r.stderr)
			}
		}
		if r := a.pier("apps", "create", "hello"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
			t.Errorf("a duplicate app: exit %d, stderr %q", r.code, r.stderr)
		}
		var apps []api.App
		a.pierJSON(&apps, "apps", "list")
		if len(apps) != 1 {
			t.Errorf("after rejected creates there are %d apps, want 1", len(apps))
		}
	})

	repo := newRepo(t, "hello")
	t.Run("pushes that must fail", func(t *testing.T) {
		repo.remote(a, "hello", "")
		if out, err := repo.push("main"); err == nil {
			t.Errorf("a push without a token succeeded:\n%s", out)
		}
		repo.remote(a, "hello", "wrong-token-123456")
		if out, err := repo.push("main"); err == nil || !strings.Contains(out, "Authentication failed") {
			t.Errorf("a push with a wrong token: err %v\n%s", err, out)
		}
		repo.remote(a, "nosuchapp", a.token)
		if out, err := repo.push("main"); err == nil || !strings.Contains(out, "does not exist") {
			t.Errorf("a push to an unknown app: err %v\n%s", err, out)
		}
		repo.remote(a, "hello", a.token)
		if out, err := repo.push("main:refs/heads/feature"); err == nil || !strings.Contains(out, "only the main or master branch") {
			t.Errorf("a push of another branch: err %v\n%s", err, out)
		}
		if r := a.pier("releases", "-a", "hello", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
			t.Errorf("rejected pushes made releases: %s %s", r.stdout, r.stderr)
		}
	})

	out, err := repo.push("main")
	if err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	for _, want := range []string{"remote: -----> ", "Go", "Released v1", "http://hello.localhost:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the push output lacks %q:\n%s", want, out)
		}
	}
	if code, body, _ := a.get("hello", "/"); code != 200 || !strings.Contains(body, "hello from hello v1") {
		t.Fatalf("GET / through the proxy = %d %q, want 200 and v1", code, body)
	}

	t.Run("proxy", func(t *testing.T) {
		code, body, _, err := a.tryGet("nosuch.localhost", "/")
		if err != nil || code != 404 {
			t.Errorf("an unknown host: %d %q %v, want 404", code, body, err)
		}
		_, body, h := a.get("hello", "/headers")
		if !strings.Contains(body, "X-Forwarded-For=127.0.0.1") || !strings.Contains(body, "X-Forwarded-Proto=http") {
			t.Errorf("the app saw these forwarding headers:\n%s", body)
		}
		if id := h.Get("X-Request-Id"); id == "" || !strings.Contains(body, "X-Request-Id="+id) {
			t.Errorf("X-Request-ID %q did not reach the app:\n%s", id, body)
		}
		_, body, _ = a.get("hello", "/env")
		for _, want := range []string{"DYNO=web.1", "PIER_APP=hello", "PIER_RELEASE=v1", "PIER_SLOT=blue", "PIER_TOKEN=\n", "PIER_SECRET_KEY=\n"} {
			if !strings.Contains(body, want) {
				t.Errorf("the app's environment lacks %q:\n%s", want, body)
			}
		}
	})

	t.Run("cli", func(t *testing.T) {
		if out := a.mustPier("apps", "list"); !strings.Contains(out, "hello") {
			t.Errorf("apps list:\n%s", out)
		}
		var app api.App
		a.pierJSON(&app, "apps", "info", "-a", "hello")
		if app.Name != "hello" || app.LiveRelease != 1 || app.Formation["web"] != 1 {
			t.Errorf("apps info --json = %+v", app)
		}
		out := a.mustPier("releases", "-a", "hello")
		if !regexp.MustCompile(`v1\s+live\s+Deploy [0-9a-f]{7}`).MatchString(out) {
			t.Errorf("releases:\n%s", out)
		}
		var insts []api.Instance
		a.pierJSON(&insts, "ps", "-a", "hello")
		if len(insts) != 1 || insts[0].Name != "web.1" || insts[0].State != api.StateUp || insts[0].Addr == "" {
			t.Errorf("ps --json = %+v", insts)
		}
		if out := a.mustPier("ps", "-a", "hello"); !regexp.MustCompile(`web\.1\s+blue\s+v1\s+up`).MatchString(out) {
			t.Errorf("ps:\n%s", out)
		}
		// Inside the checkout the app comes from the deploy remote.
		r := a.pierIn(repo.dir, "releases")
		if r.code != 0 || !strings.Contains(r.stdout, "v1") {
			t.Errorf("releases inside the checkout: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("logs", func(t *testing.T) {
		a.get("hello", "/logged")
		var out string
		waitFor(t, 5e9, "a router line", func() bool {
			out = a.mustPier("logs", "-a", "hello", "-n", "200")
			return strings.Contains(out, `path="/logged"`)
		})
		line := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00 app\[(web\.1|router|pier)\]: `)
		for _, src := range []string{"web.1", "router", "pier"} {
			if !strings.Contains(out, "app["+src+"]: ") {
				t.Errorf("logs lack app[%s] lines:\n%s", src, out)
			}
		}
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !line.MatchString(l + " ") {
				t.Errorf("a log line is not in Heroku's format: %q", l)
			}
		}
		if out := a.mustPier("logs", "-a", "hello", "-p", "router"); strings.Contains(out, "app[web.1]") {
			t.Errorf("logs -p router shows other lines:\n%s", out)
		}
	})

	t.Run("logs follow", func(t *testing.T) {
		f := a.follow("logs", "-a", "hello", "-f", "-n", "1")
		defer f.stop()
		time.Sleep(300 * time.Millisecond)
		a.get("hello", "/followed")
		waitFor(t, 10*time.Second, "the followed router line", func() bool {
			return strings.Contains(f.output(), `path="/followed"`)
		})
	})

	t.Run("second push", func(t *testing.T) {
		// A pack larger than git's post buffer (64 KiB at least) goes
		// chunked, which CGI alone cannot take.
		noise := make([]byte, 200<<10)
		_, _ = rand.Read(noise)
		repo.write("static/noise.bin", string(noise))
		repo.setGreeting("howdy")
		if out, err := repo.tryGit("-c", "http.postBuffer=65536", "push", "deploy", "main"); err != nil || !strings.Contains(out, "Released v2") {
			t.Fatalf("second push: %v\n%s", err, out)
		}
		if _, body, _ := a.get("hello", "/"); !strings.Contains(body, "howdy from hello v2 green") {
			t.Fatalf("after the second push GET / = %q", body)
		}
	})

	t.Run("failed builds keep v2 serving", func(t *testing.T) {
		repo.write("main.go", "package main\n\nfunc main() { this is not Go }\n")
		out, err := repo.push("main")
		if err == nil || !strings.Contains(out, "build failed") {
			t.Errorf("a push that does not compile: err %v\n%s", err, out)
		}
		repo.git("rm", "-q", "-r", ".")
		repo.write("README.txt", "nothing to build here\n")
		out, err = repo.push("main")
		if err == nil || !strings.Contains(strings.ToLower(out), "buildpack") {
			t.Errorf("a push with nothing to build: err %v\n%s", err, out)
		}
		if _, body, _ := a.get("hello", "/"); !strings.Contains(body, "howdy from hello v2") {
			t.Errorf("after failed pushes GET / = %q, want v2 still serving", body)
		}
		var app api.App
		a.pierJSON(&app, "apps", "info", "-a", "hello")
		if app.LiveRelease != 2 {
			t.Errorf("live release after failed pushes = v%d, want v2", app.LiveRelease)
		}
	})

	t.Run("destroy", func(t *testing.T) {
		if r := a.pier("apps", "destroy", "-a", "hello", "--confirm", "nope"); r.code == 0 {
			t.Errorf("destroy with a wrong --confirm succeeded")
		}
		a.mustPier("apps", "destroy", "-a", "hello", "--confirm", "hello")
		if code, _, _, _ := a.tryGet("hello.localhost", "/"); code != 404 {
			t.Errorf("after destroy the app's host answers %d, want 404", code)
		}
		if r := a.pier("ps", "-a", "hello"); r.code == 0 {
			t.Errorf("ps of a destroyed app succeeded")
		}
	})
}

func portOfAddr(addr string) string {
	i := strings.LastIndexByte(addr, ':')
	return addr[i+1:]
}
