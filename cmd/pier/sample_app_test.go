package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// sampleAppDir is the sample app, Text Lens, in this repository.
var sampleAppDir = filepath.Join("..", "..", "sample-app")

const (
	sampleTagline = "Sentiment, topic and a summary of any text, computed on this server in milliseconds."
	newTagline    = "Now with a second release, deployed by git push."
	positiveText  = "I love this phone, the camera is amazing and the battery lasts all day."
	negativeText  = "The flight was delayed for hours, the staff were rude and the airline lost my luggage."
)

// TestSampleApp deploys the sample app as its README tells a user to: a
// shared DATA_DIR, git push, check_deploy through the proxy, the page in
// Chromium, a batch job for the worker, a second push and a rollback, each
// visible in the banner.
func TestSampleApp(t *testing.T) {
	needE2E(t)
	requireBinary(t, "bash")
	requireBinary(t, "curl")
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "textlens")
	// Every process of the app, the release phase and one-offs included, runs
	// in a slug of its own, so the data they share lives outside the slugs.
	// Isolated, the app's processes run as its own user: they need a
	// directory they may write.
	data := reachableTempDir(t)
	if err := os.Chmod(data, 0o777); err != nil {
		t.Fatal(err)
	}
	a.mustPier("config", "set", "-a", "textlens", "DATA_DIR="+data, "WORKER_POLL_INTERVAL=200ms")

	shareGoBuildCache(t, a, "textlens")
	repo := sampleAppRepo(t)
	repo.remote(a, "textlens", a.token)
	start := time.Now()
	out, err := repo.push("main")
	if err != nil {
		t.Fatalf("git push: %v\n%s", err, out)
	}
	t.Logf("the first push took %s", time.Since(start).Round(time.Second))
	for _, want := range []string{"Running release command: migrate", "schema upgraded from version 0 to 2", "Released v1", "http://textlens.localhost:"} {
		if !strings.Contains(out, want) {
			t.Errorf("the first push's output lacks %q:\n%s", want, out)
		}
	}
	if b, err := os.ReadFile(filepath.Join(data, "SCHEMA_VERSION")); err != nil || string(b) != "2\n" {
		t.Errorf("after the release phase DATA_DIR/SCHEMA_VERSION = %q, %v; want 2", b, err)
	}
	expectProcesses(t, a, api.SlotBlue, 1)

	t.Run("check_deploy", func(t *testing.T) {
		checkDeploy(t, a, "textlens")
	})
	t.Run("browser v1", func(t *testing.T) {
		browserTest(t, a, "textlens", "Release v1 · slot blue")
	})
	t.Run("worker", func(t *testing.T) {
		res := runJob(t, a, data, "review", positiveText)
		if res.Result.Sentiment.Label != "positive" {
			t.Errorf("the worker's result for a positive review: %+v", res)
		}
	})

	t.Run("second push", func(t *testing.T) {
		setTagline(t, repo, newTagline)
		out, err := repo.push("main")
		if err != nil {
			t.Fatalf("second push: %v\n%s", err, out)
		}
		// The release phase runs against the same DATA_DIR from the other slot.
		for _, want := range []string{"Running release command: migrate", "nothing to do", "Released v2"} {
			if !strings.Contains(out, want) {
				t.Errorf("the second push's output lacks %q:\n%s", want, out)
			}
		}
		expectPage(t, a, "Release v2 · slot green", newTagline)
		expectProcesses(t, a, api.SlotGreen, 2)
	})

	t.Run("rollback", func(t *testing.T) {
		out := a.mustPier("rollback", "-a", "textlens")
		if !strings.Contains(out, "v3") {
			t.Errorf("rollback printed %q, want it to name the new release v3", out)
		}
		// Rolling back to the standby is a switch: blue's processes, started
		// for v1 with v1's environment, serve again.
		expectPage(t, a, "Release v1 · slot blue", sampleTagline)
		var rels []api.Release
		a.pierJSON(&rels, "releases", "-a", "textlens")
		if len(rels) != 3 || rels[0].Version != 3 || rels[0].Status != api.StatusLive || rels[0].Description != "Rollback to v1" {
			t.Errorf("releases after the rollback: %+v", rels)
		}
		expectProcesses(t, a, api.SlotBlue, 1)
		res := runJob(t, a, data, "complaint", negativeText)
		if res.Result.Sentiment.Label != "negative" {
			t.Errorf("after the rollback the worker's result for a complaint: %+v", res)
		}
		browserTest(t, a, "textlens", "Release v1 · slot blue")
	})
}

// sampleAppRepo copies the sample app into a new git checkout, as a user
// who deploys it from a directory of their own would; its .gitignore keeps
// local build output out of the commit.
func sampleAppRepo(t *testing.T) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(sampleAppDir)); err != nil {
		t.Fatalf("copying the sample app: %v", err)
	}
	r := &gitRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main")
	r.commit("Text Lens")
	return r
}

// shareGoBuildCache points the Go buildpack's build cache for app at the go
// command's own, so the first push does not compile the standard library
// again on a busy machine (TestSpine pushes with a cold cache). Should the
// agent lay out its caches otherwise, the link goes unused and the build is
// cold: slower, never wrong.
func shareGoBuildCache(t *testing.T, a *agentProc, app string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	gocache := strings.TrimSpace(string(out))
	if err != nil || gocache == "" || gocache == "off" {
		return
	}
	dir := filepath.Join(a.dataDir, "cache", app, "go")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// Builds run as a user of their own, who cannot write the test's
		// cache: share one that every build user may write instead.
		gocache = sharedGoCache(t)
	}
	if err := os.Symlink(gocache, filepath.Join(dir, "go-build")); err != nil {
		t.Fatal(err)
	}
}

// setTagline changes the tagline under the page's title and commits it.
func setTagline(t *testing.T, r *gitRepo, tagline string) {
	t.Helper()
	name := filepath.Join("web", "static", "index.html")
	b, err := os.ReadFile(filepath.Join(r.dir, name))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), sampleTagline) {
		t.Fatalf("%s lacks the tagline %q: update sampleTagline", name, sampleTagline)
	}
	r.write(name, strings.Replace(string(b), sampleTagline, tagline, 1))
}

// expectProcesses checks that web.1 and worker.1 run the release in slot
// and are up, and that no other instance of the app is up.
func expectProcesses(t *testing.T, a *agentProc, slot string, release int) {
	t.Helper()
	var insts []api.Instance
	waitFor(t, 30*time.Second, "web.1 and worker.1 up in the "+slot+" slot", func() bool {
		insts = nil
		a.pierJSON(&insts, "ps", "-a", "textlens")
		up := map[string]bool{}
		for _, in := range insts {
			if in.State != api.StateUp {
				continue
			}
			if in.Slot != slot || in.Release != release {
				if in.Type != "web" { // the standby keeps only its web processes
					return false
				}
				continue
			}
			up[in.Name] = true
		}
		return up["web.1"] && up["worker.1"]
	})
}

// expectPage checks the banner and tagline of the page served through the
// proxy.
func expectPage(t *testing.T, a *agentProc, banner, tagline string) {
	t.Helper()
	code, body, _ := a.get("textlens", "/")
	if code != 200 {
		t.Fatalf("GET / = %d:\n%s", code, body)
	}
	re := regexp.MustCompile(`id="release"[^>]*>\s*([^<]*?)\s*<`)
	got := "(no banner)"
	if m := re.FindStringSubmatch(body); m != nil {
		got = m[1]
	}
	if got != banner {
		t.Errorf("the page's banner is %q, want %q", got, banner)
	}
	if !strings.Contains(body, tagline) {
		t.Errorf("the page lacks the tagline %q", tagline)
	}
}

// checkDeploy runs the sample app's check_deploy script through the proxy.
func checkDeploy(t *testing.T, a *agentProc, app string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(sampleAppDir, "check_deploy"), "http://"+a.httpAddr, app+".localhost")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("check_deploy: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "check_deploy: all checks passed") {
		t.Errorf("check_deploy exited 0 without saying all checks passed:\n%s", out)
	}
}

// jobResult is the part of the worker's results/NAME.json the test reads.
type jobResult struct {
	Job    string `json:"job"`
	Error  string `json:"error"`
	Result struct {
		Sentiment struct {
			Label string `json:"label"`
		} `json:"sentiment"`
	} `json:"result"`
}

// runJob queues a batch job with a one-off process, as a user would, and
// waits for the worker's result file and its log line.
func runJob(t *testing.T, a *agentProc, data, name, text string) jobResult {
	t.Helper()
	q := `"$DATA_DIR/queue/` + name + `.txt`
	cmd := `printf '%s\n' '` + text + `' > ` + q + `.tmp" && mv ` + q + `.tmp" ` + q + `" && echo queued ` + name
	if out := a.mustPier("run", "-a", "textlens", "--", cmd); !strings.Contains(out, "queued "+name) {
		t.Fatalf("pier run printed %q", out)
	}
	resultFile := filepath.Join(data, "results", name+".json")
	var b []byte
	waitFor(t, 30*time.Second, "the worker's result "+resultFile, func() bool {
		var err error
		b, err = os.ReadFile(resultFile)
		return err == nil
	})
	var res jobResult
	if err := json.Unmarshal(b, &res); err != nil || res.Job != name+".txt" || res.Error != "" {
		t.Fatalf("the worker's result %s: %v\n%s", resultFile, err, b)
	}
	if _, err := os.Stat(filepath.Join(data, "queue", "done", name+".txt")); err != nil {
		t.Errorf("the job did not move to queue/done: %v", err)
	}
	line := "app[worker.1]: worker: job " + name + ".txt done: sentiment=" + res.Result.Sentiment.Label
	var logs string
	waitFor(t, 10*time.Second, "the worker's log line for "+name, func() bool {
		logs = a.mustPier("logs", "-a", "textlens", "-p", "worker", "-n", "500")
		return strings.Contains(logs, line)
	})
	if strings.Contains(logs, "app[web.1]") || strings.Contains(logs, "app[router]") {
		t.Errorf("logs -p worker shows other processes' lines:\n%s", logs)
	}
	return res
}

// browserTest runs the sample app's Chromium test (its own module, which
// holds the chromedp dependency) against the app through the proxy:
// Chromium resolves *.localhost to this machine by itself.
func browserTest(t *testing.T, a *agentProc, app, banner string) {
	t.Helper()
	goBin := requireBinary(t, "go")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-v", "-timeout", "4m", "-run", "^TestPage$", ".")
	cmd.Dir = filepath.Join(sampleAppDir, "browsertest")
	url := "http://" + app + ".localhost:" + portOfAddr(a.httpAddr)
	cmd.Env = append(os.Environ(), "SAMPLE_APP_URL="+url, "SAMPLE_APP_BANNER="+banner)
	b, err := cmd.CombinedOutput()
	out := string(b)
	if strings.Contains(out, "--- SKIP: TestPage") {
		t.Skipf("the browser test skipped:\n%s", out)
	}
	if err != nil || !strings.Contains(out, "--- PASS: TestPage") {
		t.Fatalf("the browser test against %s (banner %q): %v\n%s", url, banner, err, out)
	}
	t.Logf("the browser test passed against %s:\n%s", url, out)
}

var goCacheOnce sync.Once

// sharedGoCache is a Go build cache that the builds of every test's agent
// may write whatever user they run as; it lasts as long as the test binary.
func sharedGoCache(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(binDir, "gocache")
	goCacheOnce.Do(func() {
		if err := os.Chmod(binDir, 0o711); err != nil {
			t.Fatal(err)
		}
		for i := range 256 {
			sub := filepath.Join(dir, fmt.Sprintf("%02x", i))
			if err := os.MkdirAll(sub, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(sub, 0o777); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	})
	return dir
}
