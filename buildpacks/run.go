package buildpacks

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// buildRun is one Build in progress.
type buildRun struct {
	b       *Builder
	o       Options
	out     *boundedWriter
	work    string // the build user's: ENV_DIR, plugin homes, cloned buildpacks
	envDir  string
	timeout time.Duration
	homes   int
}

// buildpacks runs the named buildpacks in order, or the detected one, and
// returns their names and merged default processes.
func (r *buildRun) buildpacks(ctx context.Context, refs []string) ([]string, map[string]string, error) {
	if len(refs) == 0 {
		p, name, err := r.detect(ctx)
		if err != nil {
			return nil, nil, err
		}
		defer p.close()
		procs, err := r.build(ctx, p, name)
		return []string{name}, procs, err
	}
	var names []string
	defaults := map[string]string{}
	for _, ref := range refs {
		spec, err := r.b.resolve(ctx, ref, r.work, r.o.User)
		if err != nil {
			return nil, nil, err
		}
		name, procs, err := r.buildOne(ctx, spec)
		if err != nil {
			return nil, nil, err
		}
		names = append(names, name)
		for k, v := range procs {
			defaults[k] = v
		}
	}
	return names, defaults, nil
}

// buildOne runs a buildpack the app named: it must still detect the app,
// as on Heroku, so a wrong BUILDPACK fails with a reason.
func (r *buildRun) buildOne(ctx context.Context, spec pluginSpec) (string, map[string]string, error) {
	p, err := r.start(ctx, spec)
	if err != nil {
		return "", nil, err
	}
	defer p.close()
	d, err := p.bp.Detect(ctx, r.o.SourceDir)
	if err != nil {
		return "", nil, p.explain(ctx, "detecting with buildpack "+spec.ref, err, r.timeout)
	}
	if !d.Detected {
		return "", nil, fmt.Errorf("buildpack %s cannot build this app (%s): remove it from BUILDPACK/app.json or fix the app", spec.ref, orUnknown(d.Reason))
	}
	bpkit.Step(r.out, "Using buildpack: %s", d.Name)
	procs, err := r.build(ctx, p, d.Name)
	return d.Name, procs, err
}

// detect asks each candidate in order and keeps the first that answers yes
// running, ready to build.
func (r *buildRun) detect(ctx context.Context) (*pluginProc, string, error) {
	specs, err := r.b.candidates()
	if err != nil {
		return nil, "", err
	}
	var tried []string
	for _, spec := range specs {
		p, err := r.start(ctx, spec)
		if err != nil {
			return nil, "", err
		}
		d, err := p.bp.Detect(ctx, r.o.SourceDir)
		if err != nil {
			err = p.explain(ctx, "detecting with buildpack "+spec.ref, err, r.timeout)
			p.close()
			return nil, "", err
		}
		if d.Detected {
			bpkit.Step(r.out, "%s app detected", d.Name)
			return p, d.Name, nil
		}
		p.close()
		tried = append(tried, fmt.Sprintf("%s (%s)", orName(d.Name, spec.ref), orUnknown(d.Reason)))
	}
	return nil, "", fmt.Errorf("%w: tried %s; add a Procfile or set BUILDPACK", ErrNotDetected, strings.Join(tried, ", "))
}

func (r *buildRun) build(ctx context.Context, p *pluginProc, name string) (map[string]string, error) {
	cache, err := r.cacheDir(p.spec.key)
	if err != nil {
		return nil, fmt.Errorf("creating the build cache: %w", err)
	}
	res, err := p.bp.Build(ctx, BuildRequest{
		App:      r.o.App,
		BuildDir: r.o.SourceDir,
		CacheDir: cache,
		EnvDir:   r.envDir,
	}, r.out)
	if r.out.flooded() {
		return nil, fmt.Errorf("building with %s: the buildpack wrote more than %s of output and was stopped", name, humanSize(r.out.hard))
	}
	if err != nil {
		return nil, p.explain(ctx, "building with "+name, err, r.timeout)
	}
	return res.DefaultProcesses, nil
}

// start launches a plugin with a fresh HOME of its own, as the build's
// user, and records its process group so that the next agent can end it
// should this one crash.
func (r *buildRun) start(ctx context.Context, spec pluginSpec) (*pluginProc, error) {
	r.homes++
	home := filepath.Join(r.work, fmt.Sprintf("home%d", r.homes))
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, fmt.Errorf("starting buildpack %s: %w", spec.ref, err)
	}
	if err := r.o.User.Chown(home); err != nil {
		return nil, fmt.Errorf("starting buildpack %s: %w", spec.ref, err)
	}
	p, err := r.b.start(ctx, spec, home, r.o.User)
	if p != nil {
		r.record(p.pid)
	}
	return p, err
}

// cacheDir is the app's cache for one buildpack, the build user's.
func (r *buildRun) cacheDir(key string) (string, error) {
	appCache := filepath.Join(r.b.CacheDir, r.o.App)
	cache := filepath.Join(appCache, key)
	if err := os.MkdirAll(cache, 0o700); err != nil {
		return "", err
	}
	// A cache (or one buildpack's part of it) from before builds had a
	// user of their own is given to this build's user whole, once.
	for _, dir := range []string{appCache, cache} {
		if err := chownTreeOnce(dir, r.o.User); err != nil {
			return "", err
		}
	}
	return cache, nil
}

func orUnknown(reason string) string {
	if reason == "" {
		return "it did not say why"
	}
	return reason
}

func orName(name, ref string) string {
	if name == "" {
		return ref
	}
	return name
}
