// Package e2e builds the app as Heroku's Go buildpack does (go install
// ./cmd/...) and runs the binaries as real processes, the way the Procfile
// starts them.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// build compiles bin/web, bin/worker and bin/migrate once per test run.
func build(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build the binaries")
	}
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "text-lens-bin")
		if buildErr != nil {
			return
		}
		cmd := exec.Command(goBin, "install", "./cmd/...")
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "GOBIN="+binDir)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go install ./cmd/...: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// proc is a running binary whose output is collected.
type proc struct {
	cmd *exec.Cmd
	out *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func start(t *testing.T, bin string, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin), out: &lockedBuffer{}}
	p.cmd.Dir = t.TempDir()
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			p.cmd.Wait()
		}
	})
	return p
}

// waitFor polls the output until re matches, and returns the match.
func (p *proc) waitFor(t *testing.T, re string) []string {
	t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := rx.FindStringSubmatch(p.out.String()); m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("output never matched %q:\n%s", re, p.out)
	return nil
}

// stop sends SIGTERM and returns the exit error.
func (p *proc) stop(t *testing.T) error {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("did not stop after SIGTERM:\n%s", p.out)
		return nil
	}
}

func TestMigrateTwice(t *testing.T) {
	bin := build(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	for i, want := range []string{"upgraded from version 0 to 2", "nothing to do"} {
		cmd := exec.Command(filepath.Join(bin, "migrate"))
		cmd.Env = []string{"DATA_DIR=" + dataDir}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("run %d: %v, output %q, want %q", i+1, err, out, want)
		}
	}
	cmd := exec.Command(filepath.Join(bin, "migrate"))
	cmd.Env = []string{"DATA_DIR=" + filepath.Join(dataDir, "SCHEMA_VERSION", "x")}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "set DATA_DIR to a writable directory") {
		t.Errorf("unusable DATA_DIR: %v, %q", err, out)
	}
}

func TestWebProcess(t *testing.T) {
	bin := build(t)
	secret := "s3cr3t-value-that-must-not-leak"
	p := start(t, filepath.Join(bin, "web"), "PORT=0", "PIER_RELEASE=v9", "PIER_SLOT=green",
		"SECRET_KEY="+secret, "DEPLOY_TOKEN="+secret, "RATE_LIMIT_RPS=0")
	port := p.waitFor(t, `listening on \[::\]:(\d+)`)[1]
	url := "http://127.0.0.1:" + port
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url + "/?token=" + secret)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "Release v9 · slot green") {
		t.Errorf("page lacks the release banner")
	}
	if bash, err := exec.LookPath("bash"); err == nil {
		if _, err := exec.LookPath("curl"); err == nil {
			out, err := exec.Command(bash, "../check_deploy", url).CombinedOutput()
			if err != nil || !strings.Contains(string(out), "all checks passed") {
				t.Errorf("check_deploy: %v\n%s", err, out)
			}
		} else {
			t.Log("curl is not on PATH: check_deploy not run")
		}
	}
	if err := p.stop(t); err != nil {
		t.Errorf("web exited with %v after SIGTERM, want 0:\n%s", err, p.out)
	}
	logs := p.out.String()
	if strings.Contains(logs, secret) {
		t.Errorf("a secret reached the log:\n%s", logs)
	}
	for _, want := range []string{"secrets set (values hidden): DEPLOY_TOKEN, SECRET_KEY", "shutting down", "web: stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

func TestWorkerProcess(t *testing.T) {
	bin := build(t)
	dataDir := t.TempDir()
	p := start(t, filepath.Join(bin, "worker"), "DATA_DIR="+dataDir, "WORKER_POLL_INTERVAL=50ms")
	p.waitFor(t, "watching .* for \\*.txt jobs")
	job := filepath.Join(dataDir, "queue", "review.txt")
	os.WriteFile(job+".tmp", []byte("The doctor was kind and the treatment worked. I feel healthy again."), 0o644)
	os.Rename(job+".tmp", job)
	p.waitFor(t, `job review.txt done: sentiment=positive topic=health`)
	result, err := os.ReadFile(filepath.Join(dataDir, "results", "review.json"))
	if err != nil || !bytes.Contains(result, []byte(`"label": "health"`)) {
		t.Errorf("result file: %v %s", err, result)
	}
	if err := p.stop(t); err != nil {
		t.Errorf("worker exited with %v after SIGTERM:\n%s", err, p.out)
	}
	p.waitFor(t, "stopping; processed=1")
}

func TestBadConfigExitsWithMessage(t *testing.T) {
	bin := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, name := range []string{"web", "worker"} {
		cmd := exec.CommandContext(ctx, filepath.Join(bin, name))
		cmd.Env = []string{"MODEL=gpt", "PORT=0", "DATA_DIR=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		first, _ := bufio.NewReader(bytes.NewReader(out)).ReadString('\n')
		if err == nil || !strings.Contains(first, `unknown model "gpt"`) {
			t.Errorf("%s with MODEL=gpt: %v, %q", name, err, out)
		}
	}
}

// The web binary reads its feature flags from the environment: a good
// percent is in force, a bad one is logged once and leaves the flag off,
// and the process serves either way.
func TestWebProcessFlags(t *testing.T) {
	bin := build(t)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, c := range []struct{ value, variant, log string }{
		{"100", "centroid", "web: feature flags NEW_SUMMARY=100%"},
		{"often", "textrank", `flags: FLAG_NEW_SUMMARY="often" is not a whole number from 0 to 100: the flag is off`},
	} {
		p := start(t, filepath.Join(bin, "web"), "PORT=0", "RATE_LIMIT_RPS=0", "FLAG_NEW_SUMMARY="+c.value)
		port := p.waitFor(t, `listening on \[::\]:(\d+)`)[1]
		resp, err := client.Get("http://127.0.0.1:" + port + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Text-Lens-Variant"); resp.StatusCode != 200 || got != c.variant {
			t.Errorf("FLAG_NEW_SUMMARY=%s: %d, variant %q, want %q", c.value, resp.StatusCode, got, c.variant)
		}
		if err := p.stop(t); err != nil {
			t.Errorf("FLAG_NEW_SUMMARY=%s: web exited with %v:\n%s", c.value, err, p.out)
		}
		if !strings.Contains(p.out.String(), c.log) {
			t.Errorf("FLAG_NEW_SUMMARY=%s: log lacks %q:\n%s", c.value, c.log, p.out)
		}
	}
}
