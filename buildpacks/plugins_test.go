package buildpacks_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

// Plugins that misbehave, served by this test binary re-executed.
var testPlugins = map[string]buildpacks.Buildpack{
	"test-crash":      fakeBP{name: "Crash", build: crashBuild},
	"test-hang":       fakeBP{name: "Hang", build: hangBuild},
	"test-flood":      fakeBP{name: "Flood", build: floodBuild},
	"test-hog":        fakeBP{name: "Hog", build: hogBuild},
	"test-env":        fakeBP{name: "Env", build: envBuild},
	"test-thirdparty": fakeBP{name: "Third party", marker: "thirdparty.txt", build: thirdPartyBuild},
}

func TestMain(m *testing.M) { buildpacktest.Main(m, testPlugins) }

type fakeBP struct {
	name   string
	marker string // detect when this file exists; "" detects everything
	build  func(ctx context.Context, req buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error)
}

func (f fakeBP) Detect(_ context.Context, dir string) (buildpacks.Detection, error) {
	if f.marker == "" {
		return buildpacks.Detection{Detected: true, Name: f.name}, nil
	}
	_, err := os.Stat(filepath.Join(dir, f.marker))
	return buildpacks.Detection{Detected: err == nil, Name: f.name, Reason: "no " + f.marker}, nil
}

func (f fakeBP) Build(ctx context.Context, req buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error) {
	return f.build(ctx, req, log)
}

func crashBuild(_ context.Context, _ buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error) {
	fmt.Fprintln(log, "-----> About to crash")
	time.Sleep(200 * time.Millisecond) // the line is on its way
	panic("the crash buildpack fell over")
}

// hangBuild starts a child that never ends and waits for it, ignoring ctx:
// only killing the process group ends it.
func hangBuild(_ context.Context, _ buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error) {
	cmd := exec.Command("sleep", "1000")
	if err := cmd.Start(); err != nil {
		return buildpacks.BuildResult{}, err
	}
	fmt.Fprintf(log, "-----> Hanging\n       child pid %d\n", cmd.Process.Pid)
	_ = cmd.Wait()
	select {}
}

func floodBuild(ctx context.Context, _ buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error) {
	line := strings.Repeat("x", 100) + "\n"
	for ctx.Err() == nil {
		if _, err := io.WriteString(log, line); err != nil {
			return buildpacks.BuildResult{}, err
		}
	}
	return buildpacks.BuildResult{}, ctx.Err()
}

var sink [][]byte

func hogBuild(_ context.Context, _ buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error) {
	fmt.Fprintln(log, "-----> Eating memory")
	for i := 0; i < 64; i++ {
		b := make([]byte, 64<<20)
		for j := range b {
			b[j] = 1
		}
		sink = append(sink, b)
	}
	return buildpacks.BuildResult{}, fmt.Errorf("allocated %d MB and was not stopped", len(sink)*64)
}

// envBuild reports the environment and ENV_DIR it was given.
func envBuild(_ context.Context, req buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error) {
	fmt.Fprintln(log, "-----> Environment")
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		fmt.Fprintf(log, "       env %s\n", kv)
	}
	ents, err := os.ReadDir(req.EnvDir)
	if err != nil {
		return buildpacks.BuildResult{}, err
	}
	for _, e := range ents {
		b, _ := os.ReadFile(filepath.Join(req.EnvDir, e.Name()))
		fmt.Fprintf(log, "       envdir %s=%s\n", e.Name(), b)
	}
	return buildpacks.BuildResult{DefaultProcesses: map[string]string{"web": "true"}}, nil
}

func thirdPartyBuild(_ context.Context, req buildpacks.BuildRequest, log io.Writer) (buildpacks.BuildResult, error) {
	fmt.Fprintln(log, "-----> Third-party build")
	if err := os.WriteFile(filepath.Join(req.BuildDir, "built.txt"), []byte("by a plugin"), 0o644); err != nil {
		return buildpacks.BuildResult{}, err
	}
	return buildpacks.BuildResult{DefaultProcesses: map[string]string{"worker": "cat built.txt"}}, nil
}
