// Package classic runs classic Heroku buildpacks: a directory with
// bin/detect, bin/compile BUILD_DIR CACHE_DIR ENV_DIR and bin/release.
package classic

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// Check reports whether bpDir looks like a classic buildpack.
func Check(bpDir string) error {
	for _, s := range []string{"detect", "compile"} {
		if !bpkit.IsFile(filepath.Join(bpDir, "bin", s)) {
			return fmt.Errorf("%s is not a Heroku buildpack: bin/%s is missing", bpDir, s)
		}
	}
	return nil
}

// Detect runs bin/detect BUILD_DIR. It exits 0 and prints the buildpack's
// name when it can build the app.
func Detect(ctx context.Context, bpDir, dir string) (name string, ok bool, err error) {
	if err := Check(bpDir); err != nil {
		return "", false, err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(bpDir, "bin", "detect"), dir)
	cmd.Dir = dir
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("running bin/detect: %w", err)
	}
	name, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
	if name == "" {
		name = filepath.Base(bpDir)
	}
	return name, true, nil
}

// Build runs bin/compile, then bin/release, and returns the release's
// default_process_types.
func Build(ctx context.Context, bpDir string, r bpkit.Request) (map[string]string, error) {
	if err := Check(bpDir); err != nil {
		return nil, err
	}
	compile := bpkit.Command{
		Dir:  r.BuildDir,
		Name: filepath.Join(bpDir, "bin", "compile"),
		Args: []string{r.BuildDir, r.CacheDir, r.EnvDir},
		Raw:  true, // classic buildpacks print their own "----->" lines
	}
	if err := bpkit.Run(ctx, r.Log, compile); err != nil {
		return nil, fmt.Errorf("bin/compile failed: %w", err)
	}
	release := filepath.Join(bpDir, "bin", "release")
	if !bpkit.IsFile(release) {
		return nil, nil
	}
	out, err := bpkit.Output(ctx, bpkit.Command{Dir: r.BuildDir, Name: release, Args: []string{r.BuildDir}})
	if err != nil {
		return nil, fmt.Errorf("bin/release failed: %w", err)
	}
	procs, err := ParseRelease(strings.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("reading the output of bin/release: %w", err)
	}
	return procs, nil
}

// ParseRelease reads default_process_types from bin/release's YAML. It
// understands the subset buildpacks print: a top-level mapping whose
// default_process_types is a block of "type: command" lines (plain, single-
// or double-quoted scalars) or an empty flow mapping "{}".
func ParseRelease(r io.Reader) (map[string]string, error) {
	procs := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	in := false
	n := 0
	for sc.Scan() {
		n++
		raw := sc.Text()
		line := strings.TrimSpace(raw)
		if line == "" || line == "---" || strings.HasPrefix(line, "#") {
			continue
		}
		indented := raw[0] == ' ' || raw[0] == '\t'
		if !indented {
			key, rest, _ := strings.Cut(line, ":")
			in = key == "default_process_types"
			if in && strings.TrimSpace(rest) != "" && strings.TrimSpace(rest) != "{}" {
				return nil, fmt.Errorf("line %d: default_process_types must be a block mapping", n)
			}
			continue
		}
		if !in {
			continue
		}
		typ, cmd, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("line %d: %q is not \"type: command\"", n, line)
		}
		v, err := scalar(strings.TrimSpace(cmd))
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		procs[strings.TrimSpace(typ)] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return procs, nil
}

func scalar(s string) (string, error) {
	switch {
	case strings.HasPrefix(s, `"`):
		return strconv.Unquote(s)
	case strings.HasPrefix(s, "'"):
		if len(s) < 2 || !strings.HasSuffix(s, "'") {
			return "", fmt.Errorf("unterminated quoted string %s", s)
		}
		return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
	}
	return s, nil
}

// BuildpackDirEnv names the variable that tells the classic adapter plugin
// which buildpack directory to run.
const BuildpackDirEnv = "PIER_CLASSIC_BUILDPACK"

// DirFromEnv returns the buildpack directory the plugin was started for.
func DirFromEnv() string { return os.Getenv(BuildpackDirEnv) }
