package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestCIDeploy runs the GitHub Action's entry, `pier ci deploy`, against a
// real agent: a push that passes its smoke check and watch window is
// promoted to production and reported as GitHub Deployments; a build whose
// page lacks the expected text, one that crashes in its watch window (pier
// rolls it back) and one that cannot start each exit non-zero and leave
// production as it was; a job cancelled mid-deploy leaves no lock behind.
//
// GitHub's API cannot be reached from here: a local stand-in serves the
// same REST endpoints (deployments and their statuses), and the command
// reaches it with the client library it uses against github.com.
func TestCIDeploy(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=5s"}})
	const staging, prod = "web-staging", "web"
	stagingAndProduction(t, a, "web", staging, prod)
	gh := newGitHubStandIn(t)
	repo := newPrebuiltRepo(t, "hello")
	deploy := func() ciOutcome {
		return a.ciDeploy(t, repo, gh, map[string]string{"app": staging, "smoke-text": "hello from",
			"promote-to": "next", "github-token": "gh-test-token", "timeout": "3m"})
	}

	t.Run("success promotes and reports", func(t *testing.T) {
		o := deploy()
		if o.code != 0 || o.outputs["status"] != "succeeded" || o.outputs["release"] != "v1" ||
			o.outputs["url"] != "http://web-staging.localhost:"+port(a.httpAddr) || o.outputs["promoted"] != "web=v1:succeeded" {
			t.Fatalf("pier ci deploy: exit %d, outputs %v\n%s", o.code, o.outputs, o.stderr)
		}
		if code, body, _ := a.get(prod, "/"); code != 200 || body != "hello from web v1 blue color=gold\n" {
			t.Errorf("production: GET / = %d %q", code, body)
		}
		got := gh.take()
		want := []string{
			"deployment web-staging ref=" + o.sha,
			"status in_progress",
			"status success url=http://web-staging.localhost:" + port(a.httpAddr),
			"deployment web ref=" + o.sha,
			"status in_progress",
			"status success url=http://web.localhost:" + port(a.httpAddr),
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("GitHub saw:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if strings.Contains(o.stderr, "gh-test-token") || strings.Contains(o.stderr, a.token) {
			t.Errorf("a token appears in the output:\n%s", o.stderr)
		}
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("an error page with 200 fails the smoke check", func(t *testing.T) {
		repo.rebuild("oops")
		o := deploy()
		if o.code == 0 || o.outputs["status"] != "failed" || !strings.Contains(o.stderr, `without "hello from"`) {
			t.Errorf("pier ci deploy of a page without the text: exit %d, outputs %v\n%s", o.code, o.outputs, o.stderr)
		}
		if n := len(releasesOf(t, a, prod)); n != 1 {
			t.Errorf("production has %d releases: the failed smoke check promoted", n)
		}
		if got := gh.take(); len(got) != 3 || !strings.HasPrefix(got[2], "status failure") {
			t.Errorf("GitHub saw %q, want one deployment that failed", got)
		}
	})

	t.Run("a release pier rolls back fails the job", func(t *testing.T) {
		repo.rebuildWith("hello", "-X main.crashAfter=3s")
		o := deploy()
		if o.code == 0 || o.outputs["status"] != "rolled-back" || !strings.Contains(o.stderr, "rolled back automatically") {
			t.Errorf("pier ci deploy of a crashing build: exit %d, outputs %v\n%s", o.code, o.outputs, o.stderr)
		}
		if rel := lastRelease(t, a, prod); rel.Version != 1 || rel.Status != api.StatusLive {
			t.Errorf("production's last release is %+v, want v1 live and untouched", rel)
		}
		if code, body, _ := a.get(prod, "/"); code != 200 || body != "hello from web v1 blue color=gold\n" {
			t.Errorf("production: GET / = %d %q", code, body)
		}
		gh.take()
	})

	t.Run("a deploy that fails fails the job", func(t *testing.T) {
		repo.write("Procfile", "web: exit 3\nworker: bluegreen\n")
		o := deploy()
		if o.code == 0 || o.outputs["status"] != "failed" || !strings.Contains(o.stderr, "git push failed") {
			t.Errorf("pier ci deploy of a release that cannot start: exit %d, outputs %v\n%s", o.code, o.outputs, o.stderr)
		}
		if n := len(releasesOf(t, a, prod)); n != 1 {
			t.Errorf("production has %d releases after a failed deploy upstream", n)
		}
		if got := gh.take(); len(got) != 3 || !strings.HasPrefix(got[2], "status failure") {
			t.Errorf("GitHub saw %q, want one deployment that failed", got)
		}
		repo.git("checkout", "-q", "HEAD~1", "--", "Procfile")
		repo.commit("the Procfile back")
	})

	t.Run("a cancelled job leaves no lock", func(t *testing.T) {
		a.mustPier("config", "set", "-a", staging, "RELEASE_SLEEP=8")
		repo.rebuild("howdy")
		before := lastRelease(t, a, staging).Version
		cmd := a.ciDeployCmd(t, repo, gh, map[string]string{"app": staging})
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "the release command to run", func() bool {
			rel := lastRelease(t, a, staging)
			return rel.Version > before && rel.Status == api.StatusPending
		})
		time.Sleep(time.Second)
		_ = cmd.Process.Signal(syscall.SIGTERM) // GitHub cancels a job with SIGINT, then SIGTERM
		_ = cmd.Wait()                          // killed: it exits non-zero
		a.mustPier("config", "unset", "-a", staging, "RELEASE_SLEEP")
		start := time.Now()
		o := a.ciDeploy(t, repo, gh, map[string]string{"app": staging, "smoke-text": "howdy from"})
		if o.code != 0 || time.Since(start) > 40*time.Second {
			t.Errorf("the deploy after a cancelled one: exit %d after %s\n%s", o.code, time.Since(start).Round(time.Second), o.stderr)
		}
	})
}

// ciOutcome is what a run of `pier ci deploy` left.
type ciOutcome struct {
	code    int
	stderr  string
	outputs map[string]string // $GITHUB_OUTPUT
	sha     string
}

// ciDeployCmd runs the deploy step of the GitHub Action
// (.github/actions/deploy/action.yml) in repo as the runner would: its
// script with its env, each ${{ inputs.NAME }} taken from inputs or the
// input's default, and pier built beforehand into $RUNNER_TEMP, against
// the stand-in for GitHub's API.
func (a *agentProc) ciDeployCmd(t *testing.T, repo *gitRepo, gh *gitHubStandIn, inputs map[string]string) *exec.Cmd {
	t.Helper()
	act := readAction(t)
	step := act.step(t, "deploy")
	inputs["api-url"], inputs["token"] = "http://"+a.apiAddr, a.token
	runner := t.TempDir()
	if err := os.Symlink(pierBin, filepath.Join(runner, "pier")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-e", "-c", step.Run)
	cmd.Dir = repo.dir
	cmd.Env = append(os.Environ(), "PIER_APP=", "XDG_CONFIG_HOME="+t.TempDir(), "RUNNER_TEMP="+runner,
		"GITHUB_REPOSITORY=pierhq/shop", "GITHUB_SHA="+strings.TrimSpace(repo.git("rev-parse", "HEAD")),
		"GITHUB_API_URL="+gh.srv.URL, "GITHUB_SERVER_URL=https://github.com", "GITHUB_RUN_ID=42")
	for k, expr := range step.Env {
		cmd.Env = append(cmd.Env, k+"="+act.input(t, expr, inputs))
	}
	return cmd
}

func (a *agentProc) ciDeploy(t *testing.T, repo *gitRepo, gh *gitHubStandIn, inputs map[string]string) ciOutcome {
	t.Helper()
	outFile := filepath.Join(t.TempDir(), "github_output")
	cmd := a.ciDeployCmd(t, repo, gh, inputs)
	cmd.Env = append(cmd.Env, "GITHUB_OUTPUT="+outFile)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	timer := time.AfterFunc(4*time.Minute, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	o := ciOutcome{stderr: errb.String(), outputs: map[string]string{}, sha: strings.TrimSpace(repo.git("rev-parse", "HEAD"))}
	if ee, ok := err.(*exec.ExitError); ok {
		o.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running the action's deploy step: %v", err)
	}
	b, _ := os.ReadFile(outFile)
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			o.outputs[k] = v
		}
	}
	return o
}

// gitHubStandIn serves GitHub's deployments REST endpoints and records
// what it was told.
type gitHubStandIn struct {
	srv *httptest.Server
	mu  sync.Mutex
	log []string
	ids int64
}

func newGitHubStandIn(t *testing.T) *gitHubStandIn {
	g := &gitHubStandIn{}
	mux := http.NewServeMux()
	auth := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") != "Bearer gh-test-token" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return false
		}
		return true
	}
	mux.HandleFunc("POST /repos/pierhq/shop/deployments", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		var req struct{ Ref, Environment string }
		_ = json.NewDecoder(r.Body).Decode(&req)
		g.mu.Lock()
		g.ids++
		id := g.ids
		g.log = append(g.log, "deployment "+req.Environment+" ref="+req.Ref)
		g.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "ref": req.Ref, "environment": req.Environment})
	})
	mux.HandleFunc("POST /repos/pierhq/shop/deployments/{id}/statuses", func(w http.ResponseWriter, r *http.Request) {
		if !auth(w, r) {
			return
		}
		var req struct {
			State          string `json:"state"`
			EnvironmentURL string `json:"environment_url"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		line := "status " + req.State
		if req.EnvironmentURL != "" {
			line += " url=" + req.EnvironmentURL
		}
		g.mu.Lock()
		g.log = append(g.log, line)
		g.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"id": 1, "state": req.State})
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

// take returns what GitHub was told since the last take.
func (g *gitHubStandIn) take() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := g.log
	g.log = nil
	return out
}

// port is the port of a HOST:PORT address.
func port(addr string) string {
	_, p, _ := strings.Cut(addr, ":")
	return p
}
