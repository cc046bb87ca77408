package buildpacks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pierhq/pier/buildpacks/classic"
	"github.com/pierhq/pier/sandbox"
)

// cloneTimeout bounds fetching a buildpack from a git URL.
const cloneTimeout = 2 * time.Minute

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
// directory, or a git URL of one (cloned at depth 1; "URL#ref" picks a
// branch or tag).
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
	switch {
	case isGitURL(ref):
		dir, err := cloneBuildpack(ctx, ref, work, user)
		if err != nil {
			return pluginSpec{}, err
		}
		return b.classicSpec(ref, dir)
	case filepath.IsAbs(ref):
		return b.classicSpec(ref, ref)
	}
	return pluginSpec{}, fmt.Errorf("unknown buildpack %q: use a built-in (%s), a plugin in %s, a buildpack directory or a git URL",
		ref, strings.Join(BuiltinNames(), ", "), b.PluginDir)
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

func isGitURL(ref string) bool {
	for _, p := range []string{"https://", "http://", "git://", "ssh://", "file://", "git@"} {
		if strings.HasPrefix(ref, p) {
			return true
		}
	}
	return false
}

// cloneBuildpack fetches a buildpack with git, as the build's user and
// without prompting for credentials.
func cloneBuildpack(ctx context.Context, ref, work string, user sandbox.Identity) (string, error) {
	url, branch, _ := strings.Cut(ref, "#")
	sum := sha256.Sum256([]byte(ref))
	dir := filepath.Join(work, "buildpack-"+hex.EncodeToString(sum[:6]))
	ctx, cancel := context.WithTimeout(ctx, cloneTimeout)
	defer cancel()
	args := []string{"clone", "--quiet", "--depth", "1"}
	if branch != "" {
		args = append(args, "--branch", branch)
	}
	args = append(args, "--", url, dir)
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = append(pluginEnv(work, nil), "GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false")
	cmd.Dir = work
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	user.Apply(cmd.SysProcAttr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if ctx.Err() != nil {
			msg = "timed out after " + cloneTimeout.String()
		}
		return "", fmt.Errorf("fetching buildpack %s: git clone failed: %s: check the URL in BUILDPACK or app.json", url, orError(msg, err))
	}
	return dir, nil
}

func orError(msg string, err error) string {
	if msg == "" {
		return err.Error()
	}
	if i := strings.LastIndex(msg, "\n"); i >= 0 {
		return msg[i+1:]
	}
	return msg
}
