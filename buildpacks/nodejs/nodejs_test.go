package nodejs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

func TestMain(m *testing.M) { buildpacktest.Main(m, nil) }

func TestSuite(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	buildpacktest.Require(t, "npm", "--version")
	bp := buildpacktest.Plugin(t, "nodejs")
	buildpacktest.Run(t, bp, []buildpacktest.Fixture{
		{Name: "npm app", Dir: "../testdata/node-app", Detect: true, Check: checkApp},
		{Name: "not Node.js", Dir: "../testdata/go-app"},
	})
}

func checkApp(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	for _, step := range []string{"-----> Installing dependencies", "-----> Build", "-----> Pruning devDependencies", "built dist/message.txt"} {
		if !strings.Contains(log, step) {
			t.Errorf("log lacks %q:\n%s", step, log)
		}
	}
	if res.DefaultProcesses["web"] != "npm start" {
		t.Errorf("web = %q, want npm start", res.DefaultProcesses["web"])
	}
	if _, err := os.Lstat(filepath.Join(dir, "node_modules", "devtool")); err == nil {
		t.Errorf("devDependencies were not pruned")
	}
	url := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"])
	if _, body := buildpacktest.Get(t, url+"/"); body != "HELLO FROM NODE\ndevtool pruned\n" {
		t.Errorf("GET / = %q", body)
	}
}

func TestEnginesTheMachineLacks(t *testing.T) {
	buildpacktest.Require(t, "node", "--version")
	bp := buildpacktest.Plugin(t, "nodejs")
	dir := buildpacktest.CopyDir(t, "../testdata/node-app")
	pkg := filepath.Join(dir, "package.json")
	b, _ := os.ReadFile(pkg)
	if err := os.WriteFile(pkg, []byte(strings.Replace(string(b), `">=18"`, `"99.x"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var log buildpacktest.SyncBuffer
	_, err := bp.Build(context.Background(), buildpacks.BuildRequest{BuildDir: dir, CacheDir: t.TempDir(), EnvDir: t.TempDir()}, &log)
	if err == nil || !strings.Contains(err.Error(), `asks for node "99.x"`) || !strings.Contains(err.Error(), "install a matching node") {
		t.Fatalf("err = %v", err)
	}
}

func TestLockfileRequired(t *testing.T) {
	bp := buildpacktest.Plugin(t, "nodejs")
	dir := buildpacktest.CopyDir(t, "../testdata/node-app")
	if err := os.Remove(filepath.Join(dir, "package-lock.json")); err != nil {
		t.Fatal(err)
	}
	_, err := bp.Build(context.Background(), buildpacks.BuildRequest{BuildDir: dir, CacheDir: t.TempDir(), EnvDir: t.TempDir()}, &buildpacktest.SyncBuffer{})
	if err == nil || !strings.Contains(err.Error(), "commit package-lock.json") {
		t.Fatalf("err = %v", err)
	}
}
