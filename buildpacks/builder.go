package buildpacks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
	"github.com/pierhq/pier/procfile"
	"github.com/pierhq/pier/sandbox"
)

// Defaults of a Builder's limits.
const (
	DefaultTimeout         = 15 * time.Minute
	DefaultOutputLimit     = 10 << 20  // streamed to the user, then a note
	DefaultOutputHardLimit = 100 << 20 // beyond this the build fails
	DefaultMemoryLimit     = 4 << 30   // RLIMIT_DATA of plugin processes
)

// ErrNotDetected is returned (wrapped, with what was tried) when no
// buildpack can build an app.
var ErrNotDetected = errors.New("no buildpack detected this app")

// Builder builds apps into slugs, every buildpack in its own process.
type Builder struct {
	SlugDir  string // slugs are written here, <sha256>.tar.gz
	CacheDir string // the build cache of app A is CacheDir/A
	// WorkDir holds each build's temporary directories (its ENV_DIR, the
	// buildpacks' homes) while it runs; "" is the system's temporary
	// directory. Reap empties it after a crash.
	WorkDir    string
	PluginDir  string        // third-party buildpack plugin executables
	Executable string        // the pier binary, run as `pier buildpack serve NAME`; "" means this program
	Timeout    time.Duration // of one whole build; 0 means DefaultTimeout
	Logf       func(format string, args ...any)

	// OutputLimit bounds what reaches the user; OutputHardLimit fails the
	// build. 0 means the defaults.
	OutputLimit, OutputHardLimit int64
	// MemoryLimit caps each plugin process and its children (bytes of data
	// segment); 0 means DefaultMemoryLimit, negative means no cap.
	MemoryLimit int64
	// MaxBuildpackBytes bounds the files of a buildpack fetched as a
	// tarball; 0 means DefaultMaxBuildpackBytes.
	MaxBuildpackBytes int64
}

var appNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`) })

// Build builds o.SourceDir in place and writes its slug. Build output goes
// to out line by line as it happens, in Heroku's style.
func (b *Builder) Build(ctx context.Context, o Options, out io.Writer) (Result, error) {
	if !appNameRE().MatchString(o.App) || strings.Contains(o.App, "..") {
		return Result{}, fmt.Errorf("building: invalid app name %q", o.App)
	}
	if fi, err := os.Stat(o.SourceDir); err != nil || !fi.IsDir() {
		return Result{}, fmt.Errorf("building %s: the source directory %q is missing", o.App, o.SourceDir)
	}
	procs, appJSON, err := readAppFiles(o.SourceDir)
	if err != nil {
		return Result{}, err
	}
	timeout := b.timeout()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	run, err := b.newRun(o, out, timeout)
	if err != nil {
		return Result{}, fmt.Errorf("building %s: %w", o.App, err)
	}
	defer run.cleanup()
	lw := run.out

	var res Result
	names, defaults, err := run.buildpacks(ctx, buildpackRefs(o, appJSON))
	// Nothing the build started may touch the tree while it becomes the
	// slug, nor outlive the build.
	if rerr := run.reap(); err == nil {
		err = rerr
	}
	if err != nil {
		return Result{}, err
	}
	res.Buildpack = strings.Join(names, ", ")
	res.Processes = mergeProcesses(defaults, procs)
	if len(res.Processes) == 0 {
		return Result{}, fmt.Errorf("the build defines no process types: add a Procfile (for example \"web: ./bin/server\")")
	}
	bpkit.Step(lw, "Discovering process types")
	bpkit.Info(lw, "Procfile declares types -> %s", strings.Join(procfile.Types(res.Processes), ", "))
	bpkit.Step(lw, "Compressing...")
	slug, err := WriteSlug(ctx, o.SourceDir, b.SlugDir)
	if err != nil {
		return Result{}, fmt.Errorf("building %s: %w", o.App, err)
	}
	bpkit.Info(lw, "Done: %s", humanSize(slug.Size))
	res.AppJSON = appJSON
	res.SlugPath, res.SlugSHA256, res.SlugSize = slug.Path, slug.SHA256, slug.Size
	return res, nil
}

// readAppFiles parses the Procfile and app.json before anything runs, so a
// syntax error fails the push at once. Symlinked ones are refused: they
// could point out of the source.
func readAppFiles(src string) (map[string]string, *procfile.AppJSON, error) {
	var procs map[string]string
	if f, err := openRegular(filepath.Join(src, "Procfile")); err == nil {
		p, err := procfile.Parse(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: fix the Procfile and push again", err)
		}
		procs = p.Map()
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading the Procfile: %w", err)
	}
	var appJSON *procfile.AppJSON
	if f, err := openRegular(filepath.Join(src, "app.json")); err == nil {
		appJSON, err = procfile.ParseAppJSON(f)
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("%w: fix app.json and push again", err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("reading app.json: %w", err)
	}
	return procs, appJSON, nil
}

func openRegular(path string) (*os.File, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s must be a regular file (not a symlink or directory)", filepath.Base(path))
	}
	return os.Open(path)
}

// buildpackRefs are the buildpacks the app names: Options first, then the
// BUILDPACK (or Heroku's BUILDPACK_URL) config var, then app.json. Empty
// means detect.
func buildpackRefs(o Options, a *procfile.AppJSON) []string {
	if len(o.Buildpacks) > 0 {
		return o.Buildpacks
	}
	for _, k := range []string{"BUILDPACK", "BUILDPACK_URL"} {
		if v := strings.TrimSpace(o.Env[k]); v != "" {
			var refs []string
			for _, r := range strings.Split(v, ",") {
				if r = strings.TrimSpace(r); r != "" {
					refs = append(refs, r)
				}
			}
			return refs
		}
	}
	if a != nil {
		var refs []string
		for _, r := range a.Buildpacks {
			if u := strings.TrimSpace(r.URL); u != "" {
				refs = append(refs, u)
			}
		}
		return refs
	}
	return nil
}

func mergeProcesses(defaults, procs map[string]string) map[string]string {
	m := map[string]string{}
	for k, v := range defaults {
		m[k] = v
	}
	for k, v := range procs {
		m[k] = v
	}
	return m
}

// writeEnvDir writes one file per config var, readable by the build's
// user only.
func writeEnvDir(dir string, env map[string]string, user sandbox.Identity) (string, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	if err := user.Chown(dir); err != nil {
		return "", err
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." {
			return "", fmt.Errorf("config var name %q cannot be a file name", k)
		}
		p := filepath.Join(dir, k)
		if err := os.WriteFile(p, []byte(env[k]), 0o400); err != nil {
			return "", err
		}
		if err := user.Chown(p); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (b *Builder) timeout() time.Duration {
	if b.Timeout > 0 {
		return b.Timeout
	}
	return DefaultTimeout
}

func (b *Builder) outputLimit() int64 {
	if b.OutputLimit > 0 {
		return b.OutputLimit
	}
	return DefaultOutputLimit
}

func (b *Builder) outputHardLimit() int64 {
	if b.OutputHardLimit > 0 {
		return b.OutputHardLimit
	}
	return DefaultOutputHardLimit
}

func (b *Builder) memoryLimit() int64 {
	if b.MemoryLimit == 0 {
		return DefaultMemoryLimit
	}
	return b.MemoryLimit
}

func (b *Builder) maxBuildpackBytes() int64 {
	if b.MaxBuildpackBytes > 0 {
		return b.MaxBuildpackBytes
	}
	return DefaultMaxBuildpackBytes
}

func (b *Builder) executable() (string, error) {
	if b.Executable != "" {
		return b.Executable, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding the pier executable: %w", err)
	}
	return exe, nil
}

func (b *Builder) logf(format string, args ...any) {
	if b.Logf != nil {
		b.Logf(format, args...)
	}
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Open starts the plugin process of one buildpack (a built-in name, a
// plugin in PluginDir, a classic buildpack directory or git URL) and
// returns it with the function that stops it. Cancelling ctx also stops it.
func (b *Builder) Open(ctx context.Context, ref string) (Buildpack, func(), error) {
	work, err := os.MkdirTemp(b.WorkDir, "buildpack-")
	if err != nil {
		return nil, nil, fmt.Errorf("opening buildpack %s: %w", ref, err)
	}
	spec, err := b.resolve(ctx, ref, work, sandbox.Identity{})
	if err != nil {
		os.RemoveAll(work)
		return nil, nil, err
	}
	p, err := b.start(ctx, spec, work, sandbox.Identity{})
	if err != nil {
		os.RemoveAll(work)
		return nil, nil, err
	}
	return p.bp, func() { p.close(); os.RemoveAll(work) }, nil
}
