package buildpacks_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

// installPlugin puts a third-party plugin named name into b.PluginDir: a
// script that runs this test binary as that plugin.
func installPlugin(t *testing.T, b *buildpacks.Builder, name string) {
	t.Helper()
	if err := os.MkdirAll(b.PluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\nexec '" + b.Executable + "' buildpack serve " + name + "\n"
	if err := os.WriteFile(filepath.Join(b.PluginDir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func build(t *testing.T, b *buildpacks.Builder, src string, o buildpacks.Options) (buildpacks.Result, string, error) {
	t.Helper()
	if o.App == "" {
		o.App = "demo"
	}
	o.SourceDir = src
	buildpacktest.ShareGoBuildCache(t, filepath.Join(b.CacheDir, o.App, "go"))
	var out buildpacktest.SyncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	res, err := b.Build(ctx, o, &out)
	return res, out.String(), err
}

func TestBuildGoAppIntoSlugAndRunIt(t *testing.T) {
	buildpacktest.Require(t, "go", "version")
	b := buildpacktest.Builder(t)
	res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/go-app"), buildpacks.Options{})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log)
	}
	buildpacktest.CheckLogStyle(t, log)
	if res.Buildpack != "Go" || res.Processes["web"] != "hello" {
		t.Errorf("result = %+v, want the Go buildpack and web: hello", res)
	}
	if !strings.Contains(log, "-----> Go app detected") || !strings.Contains(log, "       example.com/hello") {
		t.Errorf("log lacks detection or indented go output:\n%s", log)
	}
	if want := filepath.Join(b.SlugDir, res.SlugSHA256+".tar.gz"); res.SlugPath != want {
		t.Errorf("slug path %s, want %s", res.SlugPath, want)
	}
	if fi, err := os.Stat(res.SlugPath); err != nil || fi.Size() != res.SlugSize {
		t.Fatalf("slug %s: %v (size %d, reported %d)", res.SlugPath, err, fi.Size(), res.SlugSize)
	}
	run := filepath.Join(t.TempDir(), "app")
	if err := buildpacks.ExtractSlug(res.SlugPath, run); err != nil {
		t.Fatal(err)
	}
	url := buildpacktest.StartWeb(t, run, res.Processes["web"])
	if _, body := buildpacktest.Get(t, url+"/"); !strings.HasPrefix(body, "hello from go") {
		t.Errorf("GET / = %q", body)
	}
}

func TestProcfileOnlyApp(t *testing.T) {
	b := buildpacktest.Builder(t)
	res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/procfile-app"), buildpacks.Options{})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log)
	}
	if res.Buildpack != "Procfile" || res.Processes["web"] != "./server.sh" {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(log, "-----> Procfile app detected") {
		t.Errorf("log:\n%s", log)
	}
}

// TestDeepWorkDir: a data dir deep enough that a socket in the build's
// home would pass the 107 bytes a Unix socket path may have still builds.
func TestDeepWorkDir(t *testing.T) {
	b := buildpacktest.Builder(t)
	b.WorkDir = filepath.Join(t.TempDir(), strings.Repeat("a-rather-long-directory-name/", 4))
	if err := os.MkdirAll(b.WorkDir, 0o711); err != nil {
		t.Fatal(err)
	}
	res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/procfile-app"), buildpacks.Options{})
	if err != nil {
		t.Fatalf("Build in %s (%d bytes): %v\n%s", b.WorkDir, len(b.WorkDir), err, log)
	}
	if res.Buildpack != "Procfile" {
		t.Errorf("result = %+v", res)
	}
}

func TestNothingDetectedListsWhatWasTried(t *testing.T) {
	b := buildpacktest.Builder(t)
	_, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/empty-app"), buildpacks.Options{})
	if !errors.Is(err, buildpacks.ErrNotDetected) {
		t.Fatalf("err = %v, want ErrNotDetected\n%s", err, log)
	}
	for _, want := range []string{"tried Go (no go.mod)", "Procfile (no Procfile)", "add a Procfile or set BUILDPACK"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if ents, _ := os.ReadDir(b.SlugDir); len(ents) != 0 {
		t.Errorf("a failed build left %d files in the slug dir", len(ents))
	}
}

func TestBadProcfileNamesTheLine(t *testing.T) {
	b := buildpacktest.Builder(t)
	src := buildpacktest.CopyDir(t, "testdata/procfile-app")
	if err := os.WriteFile(filepath.Join(src, "Procfile"), []byte("web: ok\nworker run it\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := build(t, b, src, buildpacks.Options{})
	if err == nil || !strings.Contains(err.Error(), "Procfile line 2") || !strings.Contains(err.Error(), "fix the Procfile") {
		t.Fatalf("err = %v, want it to name line 2", err)
	}
}

func TestSymlinksOutOfTheAppAreNotFollowed(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("TOP-SECRET-CONTENT"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := buildpacktest.Builder(t)
	src := buildpacktest.CopyDir(t, "testdata/procfile-app")
	if err := os.Symlink(secret, filepath.Join(src, "leak")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Dir(secret), filepath.Join(src, "leakdir")); err != nil {
		t.Fatal(err)
	}
	res, log, err := build(t, b, src, buildpacks.Options{})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log)
	}
	raw := readGunzip(t, res.SlugPath)
	if bytes.Contains(raw, []byte("TOP-SECRET-CONTENT")) {
		t.Fatal("the slug holds the content of a file outside the app")
	}
	run := filepath.Join(t.TempDir(), "run")
	if err := buildpacks.ExtractSlug(res.SlugPath, run); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(run, "leak")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("leak should stay a symlink: %v", err)
	}
}

func TestBuildSeesConfigOnlyThroughEnvDir(t *testing.T) {
	t.Setenv("PIER_TEST_SECRET", "agent-secret-value")
	b := buildpacktest.Builder(t)
	installPlugin(t, b, "test-env")
	res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/empty-app"), buildpacks.Options{
		Env:        map[string]string{"GREETING": "hi there"},
		Buildpacks: []string{"test-env"},
	})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log)
	}
	if strings.Contains(log, "agent-secret-value") || strings.Contains(log, "PIER_TEST_SECRET") {
		t.Errorf("the agent's environment reached the buildpack:\n%s", log)
	}
	if !strings.Contains(log, "envdir GREETING=hi there") {
		t.Errorf("the config var is not in ENV_DIR:\n%s", log)
	}
	if home := os.Getenv("HOME"); home != "" && strings.Contains(log, "env HOME="+home+"\n") {
		t.Errorf("the buildpack got the agent's HOME")
	}
	if res.Buildpack != "Env" {
		t.Errorf("buildpack = %q", res.Buildpack)
	}
}

func TestThirdPartyPluginIsDetected(t *testing.T) {
	b := buildpacktest.Builder(t)
	installPlugin(t, b, "test-thirdparty")
	src := buildpacktest.CopyDir(t, "testdata/empty-app")
	if err := os.WriteFile(filepath.Join(src, "thirdparty.txt"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, log, err := build(t, b, src, buildpacks.Options{})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log)
	}
	if res.Buildpack != "Third party" || res.Processes["worker"] != "cat built.txt" {
		t.Errorf("result = %+v", res)
	}
	if !strings.Contains(log, "-----> Third party app detected") {
		t.Errorf("log:\n%s", log)
	}
}

func TestCrashingPluginFailsTheBuildOnly(t *testing.T) {
	b := buildpacktest.Builder(t)
	installPlugin(t, b, "test-crash")
	_, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/empty-app"), buildpacks.Options{Buildpacks: []string{"test-crash"}})
	if err == nil || !strings.Contains(err.Error(), "crashed") || !strings.Contains(err.Error(), "the crash buildpack fell over") {
		t.Fatalf("err = %v, want a crash naming the panic", err)
	}
	if !strings.Contains(log, "-----> About to crash") {
		t.Errorf("output before the crash was lost:\n%s", log)
	}
}

func TestHangingPluginIsKilledWithItsChildren(t *testing.T) {
	b := buildpacktest.Builder(t)
	b.Timeout = 10 * time.Second // room for a slow start on a busy machine
	installPlugin(t, b, "test-hang")
	start := time.Now()
	_, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/empty-app"), buildpacks.Options{Buildpacks: []string{"test-hang"}})
	if err == nil || !strings.Contains(err.Error(), "took longer than 10s") {
		t.Fatalf("err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("the build took %s to give up", d)
	}
	m := regexp.MustCompile(`child pid (\d+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("no child pid in log:\n%s", log)
	}
	pid, _ := strconv.Atoi(m[1])
	for i := 0; ; i++ {
		if !buildpacktest.Alive(pid) {
			break
		}
		if i == 100 {
			t.Fatalf("the buildpack's child %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestCancelledPushStopsTheBuild(t *testing.T) {
	b := buildpacktest.Builder(t)
	installPlugin(t, b, "test-hang")
	ctx, cancel := context.WithCancel(context.Background())
	out := &cancelOnWrite{cancel: cancel}
	_, err := b.Build(ctx, buildpacks.Options{App: "demo", SourceDir: buildpacktest.CopyDir(t, "testdata/empty-app"), Buildpacks: []string{"test-hang"}}, out)
	if err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err = %v, want a cancelled build", err)
	}
}

// cancelOnWrite cancels once the build has started to write.
type cancelOnWrite struct {
	buildpacktest.SyncBuffer
	cancel func()
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("child pid")) {
		c.cancel()
	}
	return c.SyncBuffer.Write(p)
}

func TestFloodingPluginIsBounded(t *testing.T) {
	b := buildpacktest.Builder(t)
	b.OutputLimit, b.OutputHardLimit = 64<<10, 1<<20
	installPlugin(t, b, "test-flood")
	_, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/empty-app"), buildpacks.Options{Buildpacks: []string{"test-flood"}})
	if err == nil || !strings.Contains(err.Error(), "wrote more than 1.0 MB of output") {
		t.Fatalf("err = %v, want the flood stopped", err)
	}
	if len(log) > 80<<10 {
		t.Errorf("%d bytes reached the user, want about 64 KB", len(log))
	}
	if !strings.Contains(log, "Build output passed 64.0 KB: the rest is not shown") {
		t.Errorf("no truncation note in the output")
	}
}

func TestMemoryHogIsStopped(t *testing.T) {
	b := buildpacktest.Builder(t)
	b.MemoryLimit = 512 << 20
	installPlugin(t, b, "test-hog")
	_, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/empty-app"), buildpacks.Options{Buildpacks: []string{"test-hog"}})
	if err == nil || !strings.Contains(err.Error(), "crashed") || !(strings.Contains(err.Error(), "out of memory") || strings.Contains(err.Error(), "failed to allocate")) {
		t.Fatalf("err = %v, want the plugin stopped for memory\n%s", err, log)
	}
}

func TestUnknownBuildpackAndMissingGitURL(t *testing.T) {
	buildpacktest.Require(t, "git", "version")
	b := buildpacktest.Builder(t)
	src := buildpacktest.CopyDir(t, "testdata/procfile-app")
	_, _, err := build(t, b, src, buildpacks.Options{Env: map[string]string{"BUILDPACK": "cobol"}})
	if err == nil || !strings.Contains(err.Error(), `unknown buildpack "cobol"`) {
		t.Errorf("err = %v", err)
	}
	missing := buildpacktest.ServeGit(t, filepath.Join(t.TempDir(), "no-such-buildpack.git"))
	_, _, err = build(t, b, src, buildpacks.Options{Env: map[string]string{"BUILDPACK": missing}})
	if err == nil || !strings.Contains(err.Error(), "git clone failed") || !strings.Contains(err.Error(), "check the URL") {
		t.Errorf("err = %v", err)
	}
}

func readGunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassicBuildpackFromGitURLKeepsItsCache(t *testing.T) {
	buildpacktest.Require(t, "git", "version")
	repo := buildpacktest.CopyDir(t, "testdata/classic-buildpack")
	for _, args := range [][]string{
		{"init", "-q"}, {"add", "."},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "buildpack"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	b := buildpacktest.Builder(t)
	o := buildpacks.Options{Env: map[string]string{"BUILDPACK": buildpacktest.ServeGit(t, repo), "GREETING": "hey"}}
	for i, want := range []string{"build number 1", "build number 2"} {
		res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/classic-app"), o)
		if err != nil {
			t.Fatalf("build %d: %v\n%s", i+1, err, log)
		}
		if !strings.Contains(log, want) {
			t.Errorf("build %d: log lacks %q (cache not kept?):\n%s", i+1, want, log)
		}
		if res.Buildpack != "Hello Classic" || res.Processes["web"] != "bin/hello" {
			t.Errorf("result = %+v", res)
		}
	}
}

func TestAppJSONNamesTheBuildpack(t *testing.T) {
	b := buildpacktest.Builder(t)
	src := buildpacktest.CopyDir(t, "testdata/static-app")
	// Detection would pick the static site; app.json asks for Procfile.
	appJSON := `{"buildpacks": [{"url": "procfile"}], "healthchecks": {"web": [{"path": "/"}]}}`
	if err := os.WriteFile(filepath.Join(src, "app.json"), []byte(appJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "Procfile"), []byte("web: sleep 1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, log, err := build(t, b, src, buildpacks.Options{})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log)
	}
	if res.Buildpack != "Procfile" || res.AppJSON == nil || len(res.AppJSON.WebHealthchecks()) != 1 {
		t.Errorf("result = %+v", res)
	}
}

func TestNamedBuildpackThatDoesNotApply(t *testing.T) {
	b := buildpacktest.Builder(t)
	_, _, err := build(t, b, buildpacktest.CopyDir(t, "testdata/procfile-app"), buildpacks.Options{Env: map[string]string{"BUILDPACK": "heroku/go"}})
	if err == nil || !strings.Contains(err.Error(), "buildpack heroku/go cannot build this app (no go.mod)") {
		t.Fatalf("err = %v", err)
	}
}

func TestStaticSiteSlugServes(t *testing.T) {
	b := buildpacktest.Builder(t)
	res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/static-app"), buildpacks.Options{})
	if err != nil {
		t.Fatalf("Build: %v\n%s", err, log)
	}
	run := filepath.Join(t.TempDir(), "app")
	if err := buildpacks.ExtractSlug(res.SlugPath, run); err != nil {
		t.Fatal(err)
	}
	url := buildpacktest.StartWeb(t, run, res.Processes["web"])
	if _, body := buildpacktest.Get(t, url+"/"); !strings.Contains(body, "Hello from a static site") {
		t.Errorf("GET / = %q", body)
	}
}
