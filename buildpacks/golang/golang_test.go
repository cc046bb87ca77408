package golang_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

func TestMain(m *testing.M) { buildpacktest.Main(m, nil) }

func TestSuite(t *testing.T) {
	buildpacktest.Require(t, "go", "version")
	bp := buildpacktest.Plugin(t, "go")
	buildpacktest.Run(t, bp, []buildpacktest.Fixture{
		{Name: "module", Dir: "../testdata/go-app", Detect: true, Check: checkHello},
		{
			Name: "vendored", Dir: "../testdata/go-vendor-app", Detect: true,
			Env:   map[string]string{"GOFLAGS": "-ldflags=-X=main.who=config"},
			Check: checkVendored,
		},
		{
			Name: "cmd/* main packages become process types; linker symbol", Dir: "../testdata/go-cmd-app", Detect: true,
			Env:   map[string]string{"GO_LINKER_SYMBOL": "main.release", "GO_LINKER_VALUE": "v42"},
			Check: checkCmd,
		},
		{Name: "toolchain line installs that Go", Dir: "../testdata/go-pinned-app", Detect: true, Check: checkPinned},
		{Name: "goVersion and install directives", Dir: "../testdata/go-directive-app", Detect: true, Check: checkDirective("api", "tool")},
		{
			Name: "GO_INSTALL_PACKAGE_SPEC over the install directive", Dir: "../testdata/go-directive-app", Detect: true,
			Env: map[string]string{"GO_INSTALL_PACKAGE_SPEC": "./cmd/tool"}, Check: checkDirective("tool", "api"),
		},
		{Name: "not Go", Dir: "../testdata/procfile-app"},
	})
}

func checkCmd(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	want := map[string]string{"web": "bin/web", "other": "bin/other"}
	if len(res.DefaultProcesses) != 2 || res.DefaultProcesses["web"] != want["web"] || res.DefaultProcesses["other"] != want["other"] {
		t.Errorf("processes = %v, want %v", res.DefaultProcesses, want)
	}
	if !strings.Contains(log, "go.mod's go line asks for go 1.21 or newer") {
		t.Errorf("the log does not say the machine's go meets the go line:\n%s", log)
	}
	url := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"])
	if _, body := buildpacktest.Get(t, url+"/"); !strings.Contains(body, "release v42") {
		t.Errorf("GET / = %q, want GO_LINKER_VALUE stamped in", body)
	}
}

func checkPinned(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	if !strings.Contains(log, "-----> Installing go1.22.5") || !strings.Contains(log, "toolchain line go1.22.5") {
		t.Errorf("the log does not say go1.22.5 was installed:\n%s", log)
	}
	url := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"])
	if _, body := buildpacktest.Get(t, url+"/"); body != "pinned built by go1.22.5\n" {
		t.Errorf("GET / = %q, want the app built by go1.22.5", body)
	}
}

func checkDirective(installed, not string) func(*testing.T, string, buildpacks.BuildResult, string) {
	return func(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
		out, err := exec.Command(filepath.Join(dir, "bin", installed)).CombinedOutput()
		if err != nil || strings.TrimSpace(string(out)) != installed+" go1.22.5" {
			t.Errorf("bin/%s = %q, %v; want it built by go1.22.5 (goVersion)\n%s", installed, out, err, log)
		}
		if _, err := os.Stat(filepath.Join(dir, "bin", not)); err == nil {
			t.Errorf("bin/%s was installed too", not)
		}
	}
}

func checkHello(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	for _, b := range []string{"hello", "worker"} {
		if _, err := os.Stat(filepath.Join(dir, "bin", b)); err != nil {
			t.Errorf("bin/%s was not installed: %v\n%s", b, err, log)
		}
	}
	if got := res.DefaultProcesses["web"]; got != "hello" {
		t.Errorf("default web = %q, want hello (the module's last path element)", got)
	}
	url := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"])
	if _, body := buildpacktest.Get(t, url+"/"); !strings.Contains(body, "hello from go") {
		t.Errorf("GET / = %q", body)
	}
}

func checkVendored(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	if !strings.Contains(log, "-----> Using vendored dependencies") || !strings.Contains(log, "-mod=vendor") {
		t.Errorf("log does not say vendor/ was used:\n%s", log)
	}
	out, err := exec.Command(filepath.Join(dir, "bin", "greeter")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello, config" {
		t.Errorf("bin/greeter = %q, %v; want the GOFLAGS config var honoured", out, err)
	}
	if _, ok := res.DefaultProcesses["web"]; ok {
		t.Errorf("no binary is named vendored, yet web = %q", res.DefaultProcesses["web"])
	}
}

func TestCacheKeepsGoBuildCache(t *testing.T) {
	buildpacktest.Require(t, "go", "version")
	bp := buildpacktest.Plugin(t, "go")
	cache := t.TempDir()
	buildpacktest.ShareGoBuildCache(t, cache)
	_, log := buildpacktest.Build(t, bp, buildpacktest.CopyDir(t, "../testdata/go-vendor-app"), cache, nil)
	if !strings.Contains(log, "Installed binaries: greeter") {
		t.Errorf("log does not list the binary:\n%s", log)
	}
	// The module cache lives in the build cache too (nothing to download
	// for a vendored app, but go creates its directory).
	if _, err := os.Stat(filepath.Join(cache, "go-build")); err != nil {
		t.Fatalf("GOCACHE is not under the build cache: %v", err)
	}
}

// TestBadInput: each module fails its build with a message that names the
// cause and what to do.
func TestBadInput(t *testing.T) {
	buildpacktest.Require(t, "go", "version")
	bp := buildpacktest.Plugin(t, "go")
	closed := "http://127.0.0.1:1" // nothing listens on port 1
	for _, tc := range []struct {
		name, dir string
		files     map[string]string
		env       map[string]string
		wants     []string
	}{
		{"an unreachable Go proxy for the toolchain", "go-pinned-app", nil, map[string]string{"GOPROXY": closed},
			[]string{"the Go module proxy 127.0.0.1:1 is unreachable", "set GOPROXY to a proxy it can reach"}},
		{"an unreachable Go proxy for the dependencies", "go-app", map[string]string{
			"go.mod": "module example.com/hello\n\ngo 1.22\n\nrequire example.com/greet v1.0.0\n",
			"go.sum": "example.com/greet v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nexample.com/greet v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
		}, map[string]string{"GOPROXY": closed, "GONOSUMDB": "example.com"},
			[]string{"running go mod download -x", "through GOPROXY=" + closed + " failed", "set the GOPROXY config var"}},
		{"a Go release that does not exist", "go-pinned-app", map[string]string{"go.mod": "module example.com/pinned\n\ngo 1.21\n\ntoolchain go1.99.1\n"}, nil,
			[]string{"go.mod's toolchain line asks for go1.99.1", "not a Go release the module proxy serves (newest: go1."}},
		{"go.mod without a module line", "go-app", map[string]string{"go.mod": "go 1.22\n"}, nil,
			[]string{"go.mod has no module line: add one"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildpacktest.CopyDir(t, "../testdata/"+tc.dir)
			for f, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, f), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			log, err := buildpacktest.BuildFails(t, bp, dir, tc.env)
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to hold %q; log:\n%s", err, w, log)
				}
			}
		})
	}
}
