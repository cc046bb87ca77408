// Package buildpacks turns an app's source into a slug. It holds the
// buildpack contract (Detect and Build), the go-plugin glue that runs every
// buildpack in its own process, the built-in buildpacks (buildpacks/<lang>),
// the classic Heroku buildpack adapter and the slug writer.
package buildpacks

import (
	"context"
	"io"

	"github.com/pierhq/pier/procfile"
	"github.com/pierhq/pier/sandbox"
)

// Detection is a buildpack's answer to "can you build this source?".
type Detection struct {
	Detected bool
	Name     string // shown to the user: "Go", "Node.js"
	// Reason says why the buildpack did not detect the app ("no go.mod");
	// a failed detection lists every reason.
	Reason string
}

// BuildRequest is what a buildpack builds. The buildpack builds BuildDir in
// place; what BuildDir holds afterwards becomes the slug.
type BuildRequest struct {
	App      string
	BuildDir string // the app's source, checked out
	CacheDir string // kept between builds of this app
	EnvDir   string // one file per config var, as Heroku's ENV_DIR
}

// BuildResult is what a build reports besides the files it left.
type BuildResult struct {
	// DefaultProcesses are used for types the Procfile does not name.
	DefaultProcesses map[string]string
}

// Buildpack is the contract every buildpack implements, in process or
// behind go-plugin.
type Buildpack interface {
	Detect(ctx context.Context, dir string) (Detection, error)
	// Build writes progress to log in Heroku's style ("-----> Step",
	// output indented by 7 spaces).
	Build(ctx context.Context, req BuildRequest, log io.Writer) (BuildResult, error)
}

// Options is one build of an app.
type Options struct {
	App       string
	SourceDir string            // a fresh checkout; the build may change it
	Env       map[string]string // the app's config vars (reach buildpacks only through EnvDir)
	// Buildpacks names the buildpacks to use in order (built-in names,
	// directories or git URLs); empty means detect.
	Buildpacks []string
	// User is the unprivileged user the build runs as; the zero Identity
	// runs it as the agent's own user. SourceDir, the build's own
	// directories and the app's cache are given to it, and every process
	// it left is killed before the slug is written.
	User sandbox.Identity
}

// Result is a finished build.
type Result struct {
	Buildpack  string            // the detected or chosen buildpack's name
	Processes  map[string]string // Procfile over the buildpack's defaults
	AppJSON    *procfile.AppJSON // nil when the app has none
	SlugPath   string            // content-addressed: <slug dir>/<sha256>.tar.gz
	SlugSHA256 string
	SlugSize   int64
}
