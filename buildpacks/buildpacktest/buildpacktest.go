// Package buildpacktest is the suite every buildpack passes, and the helpers
// its tests share: fixtures copied to temporary dirs, re-executing the test
// binary as a plugin, and starting what a build produced.
package buildpacktest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/static"
)

// Fixture is an app the suite detects and builds.
type Fixture struct {
	Name   string
	Dir    string            // copied to a temporary directory first
	Detect bool              // whether the buildpack must detect it
	Env    map[string]string // config vars, handed over through ENV_DIR
	// Check inspects (and may run) what the build left in dir.
	Check func(t *testing.T, dir string, res buildpacks.BuildResult, log string)
}

// Run detects every fixture with bp and builds those it must detect,
// checking the log is in Heroku's style.
func Run(t *testing.T, bp buildpacks.Buildpack, fixtures []Fixture) {
	t.Helper()
	for _, f := range fixtures {
		t.Run(f.Name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			dir := CopyDir(t, f.Dir)
			d, err := bp.Detect(ctx, dir)
			if err != nil {
				t.Fatalf("Detect: %v", err)
			}
			if d.Detected != f.Detect {
				t.Fatalf("Detect = %+v, want detected=%v", d, f.Detect)
			}
			if d.Name == "" {
				t.Errorf("Detect gave no name: %+v", d)
			}
			if !d.Detected {
				if d.Reason == "" {
					t.Errorf("Detect said no without a reason: %+v", d)
				}
				return
			}
			cache := t.TempDir()
			ShareGoBuildCache(t, cache)
			ShareNodeDist(t, cache)
			ShareGoModCache(t, cache)
			res, log := Build(t, bp, dir, cache, f.Env)
			if f.Check != nil {
				f.Check(t, dir, res, log)
			}
		})
	}
}

// Build builds dir with bp and a given cache dir, failing the test (with
// the log) if the build fails or its log is not in Heroku's style.
func Build(t *testing.T, bp buildpacks.Buildpack, dir, cache string, env map[string]string) (buildpacks.BuildResult, string) {
	t.Helper()
	envDir := t.TempDir()
	for k, v := range env {
		if err := os.WriteFile(filepath.Join(envDir, k), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var log SyncBuffer
	res, err := bp.Build(ctx, buildpacks.BuildRequest{App: "fixture", BuildDir: dir, CacheDir: cache, EnvDir: envDir}, &log)
	if err != nil {
		t.Fatalf("Build: %v\nlog:\n%s", err, log.String())
	}
	CheckLogStyle(t, log.String())
	return res, log.String()
}

// CheckLogStyle fails unless every line is a step ("-----> ") or indented
// under one by seven spaces.
func CheckLogStyle(t *testing.T, log string) {
	t.Helper()
	if !strings.Contains(log, "-----> ") {
		t.Errorf("log has no \"-----> \" step line:\n%s", log)
	}
	for _, l := range strings.Split(strings.TrimRight(log, "\n"), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----> ") && !strings.HasPrefix(l, "       ") {
			t.Errorf("log line %q is neither a step nor indented by 7 spaces", l)
		}
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// CopyDir copies a fixture into a fresh temporary directory, keeping
// modes and symlinks.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "src")
	err := filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			link, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(link, to)
		case fi.IsDir():
			return os.MkdirAll(to, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(to, b, fi.Mode().Perm()) // #nosec G703 -- a test's own fixture tree
	})
	if err != nil {
		t.Fatalf("copying fixture %s: %v", src, err)
	}
	return dst
}

// Require skips the test when a program is missing, or fails it when
// $PIER_REQUIRE names the program.
func Require(t *testing.T, name string, check ...string) {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil && len(check) > 0 {
		var out []byte
		out, err = exec.Command(path, check...).CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%s %s: %v: %s", name, strings.Join(check, " "), err, out)
		}
	}
	if err == nil {
		return
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if r = strings.TrimSpace(r); r == name || r+"3" == name { // "python" requires python3

			t.Fatalf("%s is required (PIER_REQUIRE) but unusable: %v", name, err)
		}
	}
	t.Skipf("%s is not usable here: %v", name, err)
}

// Main runs the tests of a package, or, when the test binary is
// re-executed as `<test> buildpack serve NAME`, serves the built-in NAME
// (or one of extra) as a plugin, and as `<test> static-serve DIR` (copied
// into a static slug as bin/pier), serves DIR as pier would.
func Main(m *testing.M, extra map[string]buildpacks.Buildpack) {
	if len(os.Args) >= 2 && os.Args[1] == "static-serve" {
		if err := static.Command(context.Background(), os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if len(os.Args) == 4 && os.Args[1] == "buildpack" && os.Args[2] == "serve" {
		if bp, ok := extra[os.Args[3]]; ok {
			buildpacks.ServePlugin(bp)
			os.Exit(0)
		}
		if err := buildpacks.Serve(os.Args[3]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	if os.Getenv("GORACE") == "" {
		// Race-enabled plugin processes would each linger a second on exit.
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// Builder returns a Builder whose built-ins are this test binary
// re-executed (see Main), writing into temporary dirs.
func Builder(t testing.TB) *buildpacks.Builder {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return &buildpacks.Builder{
		SlugDir:    filepath.Join(t.TempDir(), "slugs"),
		CacheDir:   filepath.Join(t.TempDir(), "cache"),
		PluginDir:  filepath.Join(t.TempDir(), "buildpacks"),
		Executable: exe,
		Logf:       t.Logf,
	}
}

// Plugin starts buildpack ref in its own plugin process, stopped when the
// test ends. A classic buildpack directory is opened from the Builder's
// PluginDir, the one place builds may take buildpack directories from.
func Plugin(t *testing.T, ref string) buildpacks.Buildpack {
	t.Helper()
	b := Builder(t)
	if filepath.IsAbs(ref) {
		b.PluginDir = filepath.Dir(ref)
	}
	bp, stop, err := b.Open(context.Background(), ref)
	if err != nil {
		t.Fatalf("starting buildpack %s: %v", ref, err)
	}
	t.Cleanup(stop)
	return bp
}

// StartWeb runs command (through sh, as a Procfile line) in dir with PORT
// set and dir/bin on PATH, waits until it answers HTTP, and returns its
// base URL. It is killed when the test ends.
func StartWeb(t *testing.T, dir, command string, env ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command("sh", "-c", command)
	cmd.Dir = dir
	cmd.Env = append([]string{
		fmt.Sprintf("PORT=%d", port),
		"PATH=" + filepath.Join(dir, "bin") + ":" + os.Getenv("PATH"),
		"HOME=" + dir,
	}, env...)
	var out SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %q: %v", command, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	c := http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		select {
		case <-done:
			t.Fatalf("%q exited before answering:\n%s", command, out.String())
		default:
		}
		if resp, err := c.Get(base + "/"); err == nil {
			resp.Body.Close()
			return base
		}
	}
	t.Fatalf("%q did not answer on port %d within 20s:\n%s", command, port, out.String())
	return ""
}

// Get fetches url and returns the status and body.
func Get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp, string(b)
}

// ShareGoBuildCache points the Go build cache of a buildpack cache dir at
// the go command's own cache, so tests do not compile the standard library
// again for every fixture. Benchmarks measure cold builds without it.
func ShareGoBuildCache(t *testing.T, cacheDir string) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOCACHE").Output()
	gocache := strings.TrimSpace(string(out))
	if err != nil || gocache == "" || gocache == "off" {
		return
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(gocache, filepath.Join(cacheDir, "go-build")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
}

// RequireNPMRegistry skips the test when the npm registry (or
// $NPM_CONFIG_REGISTRY) does not answer, or fails it when $PIER_REQUIRE
// names npm-registry.
func RequireNPMRegistry(t *testing.T) {
	t.Helper()
	reg := os.Getenv("NPM_CONFIG_REGISTRY")
	if reg == "" {
		reg = "https://registry.npmjs.org/"
	}
	c := http.Client{Timeout: 15 * time.Second}
	resp, err := c.Get(strings.TrimSuffix(reg, "/") + "/ms") // #nosec G704 -- the registry the test environment names
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		err = fmt.Errorf("%s", resp.Status)
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == "npm-registry" {
			t.Fatalf("the npm registry %s is required (PIER_REQUIRE) but unreachable: %v", reg, err)
		}
	}
	t.Skipf("the npm registry %s is unreachable: %v", reg, err)
}

// ShareNodeDist points the downloads of a Node.js build cache dir (node,
// npm, yarn, pnpm, one directory per version) at one directory kept
// between test runs, so tests download each version once.
func ShareNodeDist(t testing.TB, cacheDir string) {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		return
	}
	shared := filepath.Join(base, "pier-test", "npm-dist")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(cacheDir, "dist")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
}

// ShareGoModCache points the module cache of a Go build cache dir (where
// Go toolchains the apps ask for are installed) at one directory kept
// between test runs, so tests download each toolchain once.
func ShareGoModCache(t testing.TB, cacheDir string) {
	t.Helper()
	base, err := os.UserCacheDir()
	if err != nil {
		return
	}
	shared := filepath.Join(base, "pier-test", "go-mod")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(shared, filepath.Join(cacheDir, "go-mod")); err != nil && !os.IsExist(err) {
		t.Fatal(err)
	}
}
