// Package golang is the built-in Go buildpack. It builds apps the way
// Heroku's Go buildpack does: `go install` of the module's main packages
// into bin/, binaries named after the last element of their package path,
// vendor/ honoured, GOFLAGS and GOPRIVATE taken from the app's config, and a
// web process defaulting to the binary named after the module.
package golang

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Name is shown to the user.
const Name = "Go"

// Detect reports whether dir holds a Go module.
func Detect(dir string) (bool, string) {
	if bpkit.IsFile(filepath.Join(dir, "go.mod")) {
		return true, ""
	}
	return false, "no go.mod"
}

// configVars are the app's config vars that reach the go command.
var configVars = []string{"GOPRIVATE", "GONOPROXY", "GONOSUMDB", "GONOSUMCHECK", "GOPROXY", "GOSUMDB", "CGO_ENABLED", "GOEXPERIMENT"}

// Build compiles the module in r.BuildDir and returns the default processes.
func Build(ctx context.Context, r bpkit.Request) (map[string]string, error) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		return nil, fmt.Errorf("the go command is not installed on this machine: install Go (https://go.dev/dl) on the build host or set BUILDPACK to another buildpack")
	}
	mod, err := readGoMod(filepath.Join(r.BuildDir, "go.mod"))
	if err != nil {
		return nil, err
	}
	cfg, err := bpkit.ReadEnv(r.EnvDir)
	if err != nil {
		return nil, err
	}
	local, err := bpkit.Output(ctx, bpkit.Command{Name: gobin, Args: []string{"env", "GOVERSION"}, Env: []string{"GOTOOLCHAIN=local"}})
	if err != nil {
		return nil, err
	}
	toolchain, err := selectGo(ctx, r, mod, cfg, local, filepath.Join(r.CacheDir, "go-mod"))
	if err != nil {
		return nil, err
	}
	env := goEnv(r, cfg, toolchain)
	home := os.Getenv("HOME")
	if home == "" {
		home = filepath.Join(r.CacheDir, "home")
	}
	netrc, err := writeNetrc(r, cfg, home)
	if err != nil {
		return nil, err
	}
	if netrc != "" {
		defer os.Remove(netrc)
		env = append(env, "NETRC="+netrc, "HOME="+home)
	}
	if toolchain != "local" {
		// The go command fetches the toolchain now, so a failure says so.
		out, err := bpkit.Output(ctx, bpkit.Command{Dir: r.BuildDir, Env: env, Name: gobin, Args: []string{"version"}})
		if err != nil {
			return nil, fmt.Errorf("installing %s: %w", toolchain, err)
		}
		bpkit.Info(r.Log, "%s", out)
	}
	bpkit.Info(r.Log, "module %s", mod.path)
	vendored := bpkit.IsFile(filepath.Join(r.BuildDir, "vendor", "modules.txt"))
	if vendored {
		bpkit.Step(r.Log, "Using vendored dependencies")
	} else if mod.requires {
		bpkit.Step(r.Log, "Installing dependencies")
		if err := bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Env: env, Name: gobin, Args: []string{"mod", "download", "-x"}}); err != nil {
			return nil, fmt.Errorf("%w: downloading the module's dependencies through GOPROXY=%s failed (the lines above say which host): check that the build host reaches it, or set the GOPROXY config var (GOPRIVATE and GONOSUMDB for private modules)", err, goproxy(cfg))
		}
	}

	args := []string{"install", "-v", "-tags", "heroku"}
	if vendored {
		args = append(args, "-mod=vendor")
	}
	if sym := strings.TrimSpace(cfg["GO_LINKER_SYMBOL"]); sym != "" {
		args = append(args, "-ldflags", "-X "+sym+"="+cfg["GO_LINKER_VALUE"])
	}
	pkgs := mod.installPkgs()
	if spec := strings.Fields(cfg["GO_INSTALL_PACKAGE_SPEC"]); len(spec) > 0 {
		pkgs = spec
	}
	args = append(args, pkgs...)
	bpkit.Step(r.Log, "Running: go %s", strings.Join(args, " "))
	if err := bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Env: env, Name: gobin, Args: args}); err != nil {
		return nil, err
	}

	bins, err := listBinaries(filepath.Join(r.BuildDir, "bin"))
	if err != nil {
		return nil, err
	}
	bpkit.Step(r.Log, "Installed binaries: %s", strings.Join(bins, ", "))
	return processes(r.BuildDir, mod.path, bins), nil
}

// processes are the default process types, as the Procfile Heroku writes
// for a module without one: one per main package under cmd/ that was
// installed ("web: bin/web"), and web as the binary named after the module
// when no cmd/web says otherwise.
func processes(dir, module string, bins []string) map[string]string {
	installed := map[string]bool{}
	for _, b := range bins {
		installed[b] = true
	}
	procs := map[string]string{}
	ents, _ := os.ReadDir(filepath.Join(dir, "cmd"))
	for _, e := range ents {
		if e.IsDir() && installed[e.Name()] && procNameRE().MatchString(e.Name()) {
			procs[e.Name()] = "bin/" + e.Name()
		}
	}
	if web := path.Base(module); procs["web"] == "" && installed[web] {
		procs["web"] = web
	}
	return procs
}

var procNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`) })

// goEnv is the go command's environment: caches under the app's build
// cache, binaries into bin/, and the app's Go settings.
func goEnv(r bpkit.Request, cfg map[string]string, toolchain string) []string {
	env := []string{
		"GOBIN=" + filepath.Join(r.BuildDir, "bin"),
		"GOCACHE=" + filepath.Join(r.CacheDir, "go-build"),
		"GOMODCACHE=" + filepath.Join(r.CacheDir, "go-mod"),
		"GOPATH=" + filepath.Join(r.CacheDir, "go-path"),
		"GOTOOLCHAIN=" + toolchain,
	}
	flags := strings.TrimSpace(cfg["GOFLAGS"])
	if !strings.Contains(flags, "-buildvcs") {
		// A checkout may carry .git without a usable git: do not stamp.
		flags = strings.TrimSpace(flags + " -buildvcs=false")
	}
	env = append(env, "GOFLAGS="+flags)
	return append(env, bpkit.Pass(cfg, configVars...)...)
}

type goMod struct {
	path      string
	requires  bool
	install   []string // from "// +heroku install ./cmd/..." directives
	goLine    string   // go 1.22
	toolchain string   // toolchain go1.22.5
	goVersion string   // from "// +heroku goVersion go1.22"
}

func (m goMod) installPkgs() []string {
	if len(m.install) > 0 {
		return m.install
	}
	return []string{"./..."}
}

func readGoMod(file string) (goMod, error) {
	f, err := os.Open(file)
	if err != nil {
		return goMod{}, fmt.Errorf("reading go.mod: %w", err)
	}
	defer f.Close()
	var m goMod
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "module "):
			m.path = strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "module ")), `"`)
		case strings.HasPrefix(line, "require"):
			m.requires = true
		case strings.HasPrefix(line, "// +heroku install "):
			m.install = strings.FieldsFunc(strings.TrimPrefix(line, "// +heroku install "), func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
		case strings.HasPrefix(line, "// +heroku goVersion "):
			m.goVersion = strings.TrimSpace(strings.TrimPrefix(line, "// +heroku goVersion "))
		case strings.HasPrefix(line, "go "):
			m.goLine = strings.TrimSpace(strings.TrimPrefix(line, "go "))
		case strings.HasPrefix(line, "toolchain "):
			if t := strings.TrimSpace(strings.TrimPrefix(line, "toolchain ")); t != "default" {
				m.toolchain = t
			}
		}
	}
	if err := sc.Err(); err != nil {
		return goMod{}, fmt.Errorf("reading go.mod: %w", err)
	}
	if m.path == "" {
		return goMod{}, fmt.Errorf("go.mod has no module line: add one (module example.com/myapp)")
	}
	return m, nil
}

func listBinaries(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, fmt.Errorf("go install produced no binaries: the module needs a main package")
	}
	if err != nil {
		return nil, fmt.Errorf("listing bin/: %w", err)
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("go install produced no binaries: the module needs a main package")
	}
	return names, nil
}
