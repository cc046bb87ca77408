package buildpacks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pierhq/pier/buildpacks/classic"
	"github.com/pierhq/pier/sandbox"
)

// candidates are the buildpacks detection tries, in order: the built-in
// languages, then third-party plugins by name, then the Procfile
// pass-through.
func (b *Builder) candidates() ([]pluginSpec, error) {
	var specs []pluginSpec
	for _, bi := range builtins {
		if bi.name == "procfile" {
			continue
		}
		s, err := b.builtinSpec(bi.name)
		if err != nil {
			return nil, err
		}
		specs = append(specs, s)
	}
	specs = append(specs, b.thirdParty()...)
	s, err := b.builtinSpec("procfile")
	if err != nil {
		return nil, err
	}
	return append(specs, s), nil
}

func (b *Builder) builtinSpec(name string) (pluginSpec, error) {
	exe, err := b.executable()
	if err != nil {
		return pluginSpec{}, err
	}
	return pluginSpec{ref: name, key: name, path: exe, args: []string{"buildpack", "serve", name}}, nil
}

// thirdParty lists the executables in PluginDir.
func (b *Builder) thirdParty() []pluginSpec {
	if b.PluginDir == "" {
		return nil
	}
	ents, err := os.ReadDir(b.PluginDir)
	if err != nil {
		if !os.IsNotExist(err) {
			b.logf("buildpacks: listing plugins: %v", err)
		}
		return nil
	}
	var specs []pluginSpec
	for _, e := range ents {
		if s, ok := b.pluginSpec(e.Name()); ok {
			specs = append(specs, s)
		}
	}
	sort.Slice(specs, func(i, j int) bool { return specs[i].ref < specs[j].ref })
	return specs
}

func (b *Builder) pluginSpec(name string) (pluginSpec, bool) {
	if b.PluginDir == "" || name == "" || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return pluginSpec{}, false
	}
	path := filepath.Join(b.PluginDir, name)
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return pluginSpec{}, false
	}
	return pluginSpec{ref: name, key: "plugin-" + name, path: path}, true
}

// resolve turns what an app names into a plugin to start: a built-in (or
// one of Heroku's names for it), a plugin in PluginDir, a classic buildpack
// directory in PluginDir, a tarball URL of one (.tgz, .tar.gz), or a git
// URL of one (cloned at depth 1; "URL#ref" picks a branch or tag).
func (b *Builder) resolve(ctx context.Context, ref, work string, user sandbox.Identity) (pluginSpec, error) {
	name := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSpace(ref), "/"), ".git")
	if a, ok := aliases[strings.ToLower(name)]; ok {
		name = a
	}
	for _, bi := range builtins {
		if bi.name == strings.ToLower(name) {
			s, err := b.builtinSpec(bi.name)
			s.ref = ref
			return s, err
		}
	}
	if s, ok := b.pluginSpec(ref); ok {
		return s, nil
	}
	var dir string
	var err error
	switch {
	case isTarballURL(ref):
		dir, err = downloadBuildpack(ctx, ref, work, b.maxBuildpackBytes())
	case isGitURL(ref):
		dir, err = cloneBuildpack(ctx, ref, work, user)
	case strings.Contains(ref, "://") || strings.Contains(ref, "::"):
		err = fmt.Errorf("buildpack %s: only https, http, git and ssh URLs may name a buildpack (a file URL or a local path could read this host's files)", ref)
	case filepath.IsAbs(ref):
		dir, err = b.inPluginDir(ref)
	default:
		err = fmt.Errorf("unknown buildpack %q: use a built-in (%s), a plugin or a buildpack directory in %s, or a git or tarball URL",
			ref, strings.Join(BuiltinNames(), ", "), b.PluginDir)
	}
	if err != nil {
		return pluginSpec{}, err
	}
	return b.classicSpec(ref, dir)
}

// inPluginDir returns the buildpack directory ref names if it lies in
// PluginDir: an app may not name any other directory of the host.
func (b *Builder) inPluginDir(ref string) (string, error) {
	plugins, err := filepath.Abs(b.PluginDir)
	if b.PluginDir == "" || err != nil {
		return "", fmt.Errorf("buildpack %s: buildpack paths are not accepted here: use a git or tarball URL", ref)
	}
	dir := filepath.Clean(ref)
	if rel, err := filepath.Rel(plugins, dir); err != nil || rel == "." || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("buildpack %s: buildpack paths may only name a directory in %s, or use a git or tarball URL", ref, plugins)
	}
	return dir, nil
}

func (b *Builder) classicSpec(ref, dir string) (pluginSpec, error) {
	if err := classic.Check(dir); err != nil {
		return pluginSpec{}, fmt.Errorf("buildpack %s: %w", ref, err)
	}
	exe, err := b.executable()
	if err != nil {
		return pluginSpec{}, err
	}
	sum := sha256.Sum256([]byte(ref))
	return pluginSpec{
		ref:  ref,
		key:  "classic-" + hex.EncodeToString(sum[:6]),
		path: exe,
		args: []string{"buildpack", "serve", classicName},
		env:  []string{classic.BuildpackDirEnv + "=" + dir},
	}, nil
}
