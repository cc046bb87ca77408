// Package bpkit holds what the built-in buildpacks share: the build request,
// Heroku-style log lines, running commands with their output indented, and
// reading the app's config vars from ENV_DIR.
package bpkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// Request is one build as a built-in buildpack sees it.
type Request struct {
	BuildDir string
	CacheDir string
	EnvDir   string
	Log      io.Writer
}

// Step writes a Heroku-style step line: "-----> Installing dependencies".
func Step(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "-----> "+format+"\n", args...)
}

// Info writes a line indented under the current step.
func Info(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, Indentation+format+"\n", args...)
}

// Indentation is what output under a step starts with.
const Indentation = "       "

// Indent returns a writer that prefixes every line written to it with
// seven spaces. It is safe for concurrent use (stdout and stderr of one
// command share it).
func Indent(w io.Writer) io.Writer { return &indenter{w: w, bol: true} }

type indenter struct {
	mu  sync.Mutex
	w   io.Writer
	bol bool // at the beginning of a line
}

func (in *indenter) Write(p []byte) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	var buf bytes.Buffer
	for _, c := range p {
		if in.bol {
			buf.WriteString(Indentation)
			in.bol = false
		}
		buf.WriteByte(c)
		if c == '\n' {
			in.bol = true
		}
	}
	if _, err := in.w.Write(buf.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Command describes a program a buildpack runs.
type Command struct {
	Dir  string
	Env  []string // added to the plugin's own (minimal) environment
	Name string
	Args []string
	Raw  bool // output goes to the log as it is, not indented
}

// Run runs c with its output indented under the current step of log. A
// cancelled ctx kills it.
func Run(ctx context.Context, log io.Writer, c Command) error {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	out := Indent(log)
	if c.Raw {
		out = &lockedWriter{w: log}
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return fmt.Errorf("running %s: %w", c.String(), ctx.Err())
	}
	if err != nil {
		return fmt.Errorf("running %s: %w", c.String(), err)
	}
	return nil
}

func (c Command) String() string {
	return strings.Join(append([]string{filepath.Base(c.Name)}, c.Args...), " ")
}

// Output runs c and returns its trimmed stdout.
func Output(ctx context.Context, c Command) (string, error) {
	cmd := exec.CommandContext(ctx, c.Name, c.Args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), c.Env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("running %s: %w: %s", c.String(), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// ReadEnv reads the app's config vars from an ENV_DIR: one file per var.
func ReadEnv(dir string) (map[string]string, error) {
	env := map[string]string{}
	if dir == "" {
		return env, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading ENV_DIR: %w", err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("reading ENV_DIR: %w", err)
		}
		env[e.Name()] = string(b)
	}
	return env, nil
}

// Pass returns KEY=VALUE for the keys of env that are set, in order.
func Pass(env map[string]string, keys ...string) []string {
	var out []string
	for _, k := range keys {
		if v, ok := env[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	sort.Strings(out)
	return out
}

// Exists reports whether path exists (without following a final symlink
// out of the tree: a symlink counts as existing).
func Exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// IsFile reports whether path is a regular file.
func IsFile(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().IsRegular()
}

// CopyFile copies a regular file, keeping its mode.
func CopyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// ErrNotDetected is returned by a Build called on source it cannot build.
var ErrNotDetected = errors.New("buildpack does not apply to this app")

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
