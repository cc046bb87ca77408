package buildpacks

import (
	"context"
	"fmt"
	"io"

	"github.com/pierhq/pier/buildpacks/classic"
	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// classicName is the built-in that adapts a classic Heroku buildpack.
const classicName = "classic"

// classicBuildpack runs the classic Heroku buildpack in dir.
type classicBuildpack struct{ dir string }

var _ Buildpack = classicBuildpack{}

func classicFromEnv() Buildpack { return classicBuildpack{dir: classic.DirFromEnv()} }

func (c classicBuildpack) Detect(ctx context.Context, dir string) (Detection, error) {
	if c.dir == "" {
		return Detection{}, fmt.Errorf("the classic buildpack adapter was started without $%s", classic.BuildpackDirEnv)
	}
	name, ok, err := classic.Detect(ctx, c.dir, dir)
	if err != nil {
		return Detection{}, err
	}
	if !ok {
		return Detection{Name: "buildpack", Reason: "its bin/detect did not accept the app"}, nil
	}
	return Detection{Detected: true, Name: name}, nil
}

func (c classicBuildpack) Build(ctx context.Context, req BuildRequest, log io.Writer) (BuildResult, error) {
	procs, err := classic.Build(ctx, c.dir, bpkit.Request{
		BuildDir: req.BuildDir,
		CacheDir: req.CacheDir,
		EnvDir:   req.EnvDir,
		Log:      log,
	})
	if err != nil {
		return BuildResult{}, err
	}
	return BuildResult{DefaultProcesses: procs}, nil
}
