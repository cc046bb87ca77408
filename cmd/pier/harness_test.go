package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/sandbox"
)

// pierBin is the pier binary the end-to-end tests build once and run, in
// binDir, which is removed when they end.
var pierBin, binDir string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "pier-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	pierBin = filepath.Join(dir, "pier")
	// Built as `make build` and the release build it (Makefile, TAGS).
	build := exec.Command("go", "build", "-tags", "urfave_cli_no_docs", "-o", pierBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building pier: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// reachableTempDir is a temporary directory that other users may pass
// through, as they may through /var/lib: an agent running as root isolates
// its apps only when their users can reach their files in its data dir.
func reachableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// requireBinary skips the test when name is not installed, and fails it
// when PIER_REQUIRE names it.
func requireBinary(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but not installed", name)
		}
	}
	t.Skipf("%s is not installed: skipping", name)
	return ""
}

func needE2E(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	requireBinary(t, "git")
}

// freeAddr returns a free 127.0.0.1 port's address.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// agentProc is a pier agent started by a test.
type agentProc struct {
	t        *testing.T
	dataDir  string
	apiAddr  string
	httpAddr string
	sshAddr  string // git over SSH
	env      []string
	cmd      *exec.Cmd
	logFile  *os.File
	token    string
	workDir  string // where the agent runs ("" for the test's)
	bin      string // the binary it runs
	// handedOver is the pid of the agent that took over after SIGHUP.
	handedOver int
}

// testUIDs is the --uid-range of this test process's agents: a slice of
// pier's default range of its own, so that the agents of test runs side by
// side do not end each other's builds.
var testUIDs = func() struct{ first, last int } {
	first := 70000 + (os.Getpid()%140)*200
	return struct{ first, last int }{first, first + 199}
}()

type agentOpts struct {
	dataDir string
	extra   []string // more environment, e.g. PIER_WATCH_WINDOW=5s
	// relative starts the agent in the data dir's parent with a relative
	// --data-dir, as `make run` does with ./pier-data.
	relative bool
	// bin is the binary the agent runs (default: pierBin), for tests that
	// replace it under a running agent.
	bin string
}

func startAgent(t *testing.T, o agentOpts) *agentProc {
	t.Helper()
	if o.dataDir == "" {
		o.dataDir = reachableTempDir(t)
	}
	a := &agentProc{t: t, dataDir: o.dataDir, bin: o.bin}
	if a.bin == "" {
		a.bin = pierBin
	}
	t.Cleanup(func() { killApps(a.dataDir) }) // after the agent stopped
	dataDirArg := a.dataDir
	if o.relative {
		a.workDir, dataDirArg = filepath.Dir(a.dataDir), filepath.Base(a.dataDir)
	}
	// A free port can be taken by another process between the moment it
	// is picked and the agent's bind: then pick new ones.
	for try := 1; ; try++ {
		a.apiAddr, a.httpAddr, a.sshAddr = freeAddr(t), freeAddr(t), freeAddr(t)
		a.env = append(os.Environ(),
			"PIER_DATA_DIR="+dataDirArg,
			"PIER_API_ADDR="+a.apiAddr,
			"PIER_HTTP_ADDR="+a.httpAddr,
			"PIER_SSH_ADDR="+a.sshAddr,
			"PIER_ADMIN_TOKEN=",
			fmt.Sprintf("PIER_UID_RANGE=%d-%d", testUIDs.first, testUIDs.last),
		)
		a.env = append(a.env, o.extra...)
		err := a.tryStart()
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || try == 3 {
			t.Fatalf("the agent did not start: %v\n%s", err, a.logs())
		}
	}
	t.Cleanup(a.stop)
	return a
}

// errPortTaken says the agent could not bind an address picked for it.
var errPortTaken = errors.New("a port picked for the agent was taken meanwhile")

// start starts the agent again on the addresses it had.
func (a *agentProc) start() {
	a.t.Helper()
	if err := a.tryStart(); err != nil {
		a.t.Fatalf("the agent did not start: %v\n%s", err, a.logs())
	}
}

func (a *agentProc) tryStart() error {
	t := a.t
	t.Helper()
	lf, err := os.OpenFile(filepath.Join(a.dataDir, "agent-test.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	a.logFile = lf
	logStart, _ := lf.Seek(0, io.SeekEnd)
	a.cmd = exec.Command(a.bin, "agent")
	a.cmd.Dir = a.workDir
	a.cmd.Env = a.env
	a.cmd.Stdout, a.cmd.Stderr = lf, lf
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + a.apiAddr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				b, err := os.ReadFile(filepath.Join(a.dataDir, "admin.token"))
				if err != nil {
					t.Fatalf("the agent wrote no admin token: %v", err)
				}
				a.token = strings.TrimSpace(string(b))
				return nil
			}
		}
		if strings.Contains(a.logs()[min(int(logStart), len(a.logs())):], "address already in use") {
			_ = a.cmd.Process.Kill()
			_ = a.cmd.Wait()
			a.cmd = nil
			lf.Close()
			return errPortTaken
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("no answer on /healthz within 20s")
}

// pid is the process id of the agent now serving, from its pid file.
func (a *agentProc) pid() int {
	b, err := os.ReadFile(filepath.Join(a.dataDir, "pier.pid"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// reload sends SIGHUP and waits until the new agent process has taken over
// and the old one has exited; it returns the new pid.
func (a *agentProc) reload() int {
	a.t.Helper()
	old := a.pid()
	if err := a.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		a.t.Fatalf("SIGHUP: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		a.t.Fatalf("the agent did not hand over within 3 minutes:\n%s", a.logs())
	}
	a.cmd = nil
	a.handedOver = a.pid()
	if a.handedOver == old || a.handedOver == 0 {
		a.t.Fatalf("no new agent after SIGHUP (pid file says %d):\n%s", a.handedOver, a.logs())
	}
	return a.handedOver
}

// killApps kills every process that works in dir, the data dir of a test's
// agent: the apps an agent started outlive it on purpose (the next agent
// adopts them), but not the test.
func killApps(dir string) { sandbox.KillIn(dir) }

// stop ends the agent with SIGTERM. Apps it started keep running (they are
// re-adopted by the next agent); killApps ends them when the test does.
func (a *agentProc) stop() {
	if a.cmd == nil && a.handedOver != 0 {
		// An agent that took over after SIGHUP is no child of the test.
		_ = syscall.Kill(a.handedOver, syscall.SIGTERM)
		for i := 0; i < 400 && syscall.Kill(a.handedOver, 0) == nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
		_ = syscall.Kill(a.handedOver, syscall.SIGKILL)
		a.handedOver = 0
		a.logFile.Close()
		if a.t.Failed() {
			a.t.Logf("agent log:\n%s", a.logs())
		}
		return
	}
	if a.cmd == nil || a.cmd.Process == nil {
		return
	}
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = a.cmd.Process.Kill()
		<-done
	}
	a.cmd = nil
	a.logFile.Close()
	if a.t.Failed() {
		a.t.Logf("agent log:\n%s", a.logs())
	}
}

// kill ends the agent with SIGKILL, as a crash would.
func (a *agentProc) kill() {
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	a.cmd = nil
	a.logFile.Close()
}

func (a *agentProc) logs() string {
	b, _ := os.ReadFile(filepath.Join(a.dataDir, "agent-test.log"))
	return string(b)
}

// cliResult is what one run of the pier CLI printed.
type cliResult struct {
	stdout, stderr string
	code           int
}

// pier runs the CLI against the agent, in dir when it is not "".
func (a *agentProc) pierIn(dir string, args ...string) cliResult {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, pierBin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PIER_API=http://"+a.apiAddr, "PIER_TOKEN="+a.token, "PIER_APP=", "XDG_CONFIG_HOME="+a.t.TempDir())
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		a.t.Fatalf("running pier %v: %v", args, err)
	}
	return cliResult{out.String(), errb.String(), code}
}

func (a *agentProc) pier(args ...string) cliResult {
	a.t.Helper()
	return a.pierIn("", args...)
}

// mustPier runs the CLI and fails the test unless it exits 0.
func (a *agentProc) mustPier(args ...string) string {
	a.t.Helper()
	r := a.pier(args...)
	if r.code != 0 {
		a.t.Fatalf("pier %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// pierJSON runs the CLI with --json and decodes its output into v.
func (a *agentProc) pierJSON(v any, args ...string) {
	a.t.Helper()
	out := a.mustPier(append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		a.t.Fatalf("pier %s --json printed no JSON document: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// get fetches path from app through the proxy.
func (a *agentProc) get(app, path string) (int, string, http.Header) {
	a.t.Helper()
	code, body, h, err := a.tryGet(app+".localhost", path)
	if err != nil {
		a.t.Fatalf("GET %s%s through the proxy: %v", app, path, err)
	}
	return code, body, h
}

// metric reads a counter or gauge from the agent's /metrics.
func (a *agentProc) metric(name string) float64 {
	a.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+a.apiAddr+"/metrics", nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := proxyClient.Do(req)
	if err != nil {
		a.t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		a.t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				a.t.Fatalf("metric %s: %q", name, line)
			}
			return f
		}
	}
	a.t.Fatalf("no metric %s in /metrics", name)
	return 0
}

var proxyClient = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

func (a *agentProc) tryGet(host, path string) (int, string, http.Header, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+a.httpAddr+path, nil)
	if err != nil {
		return 0, "", nil, err
	}
	req.Host = host
	resp, err := proxyClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header, err
}

// gitRepo is a checkout of a fixture app.
type gitRepo struct {
	t   *testing.T
	dir string
}

// newRepo copies testdata/apps/NAME into a new git checkout.
func newRepo(t *testing.T, fixture string) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("testdata", "apps", fixture))); err != nil {
		t.Fatal(err)
	}
	r := &gitRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main")
	r.commit("initial")
	return r
}

func (r *gitRepo) git(args ...string) string {
	r.t.Helper()
	out, err := r.tryGit(args...)
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (r *gitRepo) tryGit(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_AUTHOR_NAME=pier test", "GIT_AUTHOR_EMAIL=test@pier.invalid",
		"GIT_COMMITTER_NAME=pier test", "GIT_COMMITTER_EMAIL=test@pier.invalid", "GIT_CONFIG_NOSYSTEM=1", "HOME="+r.dir)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (r *gitRepo) commit(msg string) {
	r.t.Helper()
	r.git("add", "-A")
	r.git("commit", "-q", "--allow-empty", "-m", msg)
}

// write replaces a file of the checkout and commits it.
func (r *gitRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	r.commit("change " + name)
}

func (r *gitRepo) setGreeting(greeting string) {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, "main.go"))
	if err != nil {
		r.t.Fatal(err)
	}
	i := bytes.Index(b, []byte(`const greeting = "`))
	j := bytes.IndexByte(b[i+18:], '"')
	out := string(b[:i+18]) + greeting + string(b[i+18+j:])
	r.write("main.go", out)
}

// remote points the deploy remote at app on the agent with token.
func (r *gitRepo) remote(a *agentProc, app, token string) {
	r.t.Helper()
	_, _ = r.tryGit("remote", "remove", "deploy")
	url := "http://" + a.apiAddr + "/git/" + app + ".git"
	if token != "" {
		url = "http://pier:" + token + "@" + a.apiAddr + "/git/" + app + ".git"
	}
	r.git("remote", "add", "deploy", url)
}

// push pushes refspec to the deploy remote and returns its output.
func (r *gitRepo) push(refspec string) (string, error) {
	return r.tryGit("push", "deploy", refspec)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// follower is a long-running CLI command (logs -f) whose output a test reads.
type follower struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	buf  bytes.Buffer
	done chan struct{}
}

func (f *follower) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}

func (f *follower) output() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.String()
}

// stop interrupts the command as Ctrl-C would and waits for it.
func (f *follower) stop() {
	_ = f.cmd.Process.Signal(os.Interrupt)
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		_ = f.cmd.Process.Kill()
		<-f.done
	}
}

// follow starts a CLI command that keeps running.
func (a *agentProc) follow(args ...string) *follower {
	a.t.Helper()
	f := &follower{done: make(chan struct{})}
	f.cmd = exec.Command(pierBin, args...)
	f.cmd.Env = append(os.Environ(), "PIER_API=http://"+a.apiAddr, "PIER_TOKEN="+a.token, "PIER_APP=")
	f.cmd.Stdout, f.cmd.Stderr = f, f
	if err := f.cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	go func() { _ = f.cmd.Wait(); close(f.done) }()
	return f
}
