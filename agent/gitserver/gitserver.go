// Package gitserver receives pushes over git's smart HTTP protocol through
// git's own `git http-backend`, and hands each push to the deployer through a
// pre-receive hook, so that the push streams the deploy's output and fails
// when the deploy fails. Git checks every received object (fsck) first.
package gitserver

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
)

// HookScript is the pre-receive hook installed in every repository. The
// agent passes PIER_BIN and the hook's credentials through the environment
// of git http-backend, so the script holds no path and no secret.
const HookScript = `#!/bin/sh
# Installed by pier: hands the push to the pier agent and streams the deploy.
exec "$PIER_BIN" hook pre-receive
`

var pathRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/git/([a-z][a-z0-9-]{1,29})\.git(/.*)?$`) })

// Server serves /git/APP.git/... for the repositories under Root.
type Server struct {
	Root string // one bare repository per app: Root/APP.git
	// SpoolDir holds chunked push bodies while git reads them ("" for
	// the system's temporary directory).
	SpoolDir string

	// Authorize checks the request's credentials (basic auth, a token as
	// the password) for a push of app (push) or a fetch, and returns who it
	// is. When it refuses, it has answered w itself.
	Authorize func(w http.ResponseWriter, r *http.Request, app string, push bool) (user string, ok bool)
	// AppExists reports whether app is known; unknown apps get 404.
	AppExists func(app string) bool
	// HookEnv is added to the environment of git http-backend and so of the
	// pre-receive hook ("PIER_BIN=...", credentials to reach the agent).
	HookEnv func(app, user string) []string
	Logf    func(format string, args ...any)
}

// ServeHTTP implements the smart HTTP protocol for one app's repository.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := pathRE().FindStringSubmatch(r.URL.Path)
	if m == nil {
		http.Error(w, "not a pier git repository: use /git/APP.git", http.StatusNotFound)
		return
	}
	app, rest := m[1], m[2]
	if err := checkRest(rest); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	user, ok := s.Authorize(w, r, app, IsPush(rest, r))
	if !ok {
		return
	}
	if !s.AppExists(app) {
		http.Error(w, fmt.Sprintf("app %q does not exist: create it with `pier apps create %s`", app, app), http.StatusNotFound)
		return
	}
	if err := s.EnsureRepo(app); err != nil {
		s.logf("git: preparing repository of %s: %v", app, err)
		http.Error(w, "the app's repository could not be prepared", http.StatusInternalServerError)
		return
	}
	gitPath, err := exec.LookPath("git")
	if err != nil {
		http.Error(w, "git is not installed on the pier host", http.StatusInternalServerError)
		return
	}
	env := append([]string{
		"GIT_PROJECT_ROOT=" + s.Root,
		"GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + user,
	}, s.gitEnv(app, user)...)
	h := &cgi.Handler{
		Path:       gitPath,
		Args:       []string{"http-backend"},
		Dir:        s.Root,
		Env:        env,
		InheritEnv: inheritedEnv,
		Stderr:     logWriter{s},
	}
	// http-backend wants PATH_INFO relative to GIT_PROJECT_ROOT.
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + app + ".git" + rest
	r2.Header.Del("Authorization") // the token never reaches git or its hooks
	if r2.ContentLength < 0 && r2.Body != nil && r2.Body != http.NoBody {
		// git sends pushes over its post buffer (1 MiB) chunked, and CGI
		// needs a length: spool the body to a file first.
		spooled, cleanup, err := spoolBody(r2.Body, s.SpoolDir)
		if err != nil {
			s.logf("git: reading the push of %s: %v", app, err)
			http.Error(w, "the push could not be read: "+err.Error(), http.StatusBadRequest)
			return
		}
		defer cleanup()
		r2.Body, r2.ContentLength = spooled, spooledSize(spooled)
		r2.TransferEncoding = nil
		r2.Header.Set("Content-Length", strconv.FormatInt(r2.ContentLength, 10))
	}
	h.ServeHTTP(flushWriter{w}, r2)
}

// IsPush reports whether a request for path rest inside a repository is
// part of a push (git receive-pack); anything else reads.
func IsPush(rest string, r *http.Request) bool {
	return rest == "/git-receive-pack" || (rest == "/info/refs" && r.URL.Query().Get("service") == "git-receive-pack")
}

// checkRest refuses a path inside a repository that could leave it: git's
// protocol never sends "." or ".." segments, a backslash or a NUL byte,
// and http-backend must not see them.
func checkRest(rest string) error {
	if strings.ContainsAny(rest, "\\\x00") {
		return errors.New("the git path holds a backslash or NUL byte: use /git/APP.git/...")
	}
	for seg := range strings.SplitSeq(strings.TrimPrefix(rest, "/"), "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("the git path holds a %q segment, which git's protocol never sends: use /git/APP.git/...", seg)
		}
	}
	return nil
}

// maxPushBytes bounds one push's request body.
const maxPushBytes = 4 << 30

// spoolBody copies a request body of unknown length to a temporary file in
// dir ("" for the system's) and returns it rewound.
func spoolBody(body io.Reader, dir string) (*os.File, func(), error) {
	f, err := os.CreateTemp(dir, "push-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(f, io.LimitReader(body, maxPushBytes+1))
	if err == nil && n > maxPushBytes {
		err = fmt.Errorf("a push may be at most %d GiB", maxPushBytes>>30)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return f, cleanup, nil
}

func spooledSize(f *os.File) int64 {
	st, err := f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}

// gitEnv is the environment git and the pre-receive hook get for a push of
// app by user, over HTTP and SSH alike.
func (s *Server) gitEnv(app, user string) []string {
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "HOME=" + s.Root}
	env = append(env, configEnv(receiveConfig)...)
	if s.HookEnv != nil {
		env = append(env, s.HookEnv(app, user)...)
	}
	return env
}

// receiveConfig is git configuration every push runs with, whatever the
// repository's own config says (repositories made before it too).
// receive.fsckObjects checks every received object strictly, which makes
// git's fsck warnings errors: a tree that holds a name twice (a symlink
// "link" beside a directory "link"), a name "..", ".git" or "a/b", a
// zero-padded mode or a null object id is refused before the pre-receive
// hook runs, so before anything reaches the deployer. The checks pier's
// safety leans on are raised explicitly as well, so that no later default
// can lower them. badFilemode (an old git's 100664) stays a warning: git
// archive writes such files as plain files.
var receiveConfig = [][2]string{
	{"receive.fsckObjects", "true"},
	{"receive.fsck.duplicateEntries", "error"},
	{"receive.fsck.hasDotdot", "error"},
	{"receive.fsck.hasDotgit", "error"},
	{"receive.fsck.fullPathname", "error"},
}

// configEnv passes git configuration through the environment (git 2.31
// and later), where it takes precedence over the repository's own.
func configEnv(kv [][2]string) []string {
	env := []string{"GIT_CONFIG_COUNT=" + strconv.Itoa(len(kv))}
	for i, c := range kv {
		env = append(env, fmt.Sprintf("GIT_CONFIG_KEY_%d=%s", i, c[0]), fmt.Sprintf("GIT_CONFIG_VALUE_%d=%s", i, c[1]))
	}
	return env
}

// inheritedEnv names the variables of the agent's environment that git
// keeps; everything else (the agent's own secrets) stays out.
var inheritedEnv = []string{"PATH", "LANG", "TMPDIR"}

// EnsureRepo creates the bare repository of app and installs its hook.
func (s *Server) EnsureRepo(app string) error {
	dir := s.RepoDir(app)
	if _, err := os.Stat(filepath.Join(dir, "HEAD")); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(s.Root, 0o755); err != nil {
			return err
		}
		cmd := exec.Command("git", "init", "--bare", "--quiet", "--initial-branch=main", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git init: %v: %s", err, strings.TrimSpace(string(out)))
		}
		cfg := exec.Command("git", "-C", dir, "config", "http.receivepack", "true")
		if out, err := cfg.CombinedOutput(); err != nil {
			return fmt.Errorf("git config: %v: %s", err, strings.TrimSpace(string(out)))
		}
	} else if err != nil {
		return err
	}
	hook := filepath.Join(dir, "hooks", "pre-receive")
	if b, err := os.ReadFile(hook); err == nil && string(b) == HookScript {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(hook), 0o755); err != nil {
		return err
	}
	tmp := hook + ".tmp"
	if err := os.WriteFile(tmp, []byte(HookScript), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, hook)
}

// RemoveRepo deletes the repository of app.
func (s *Server) RemoveRepo(app string) error {
	if !ValidApp(app) {
		return fmt.Errorf("invalid app name %q", app)
	}
	return os.RemoveAll(s.RepoDir(app))
}

// ValidApp reports whether name is a valid app name, and so a safe
// repository path.
func ValidApp(name string) bool { return appRE().MatchString(name) }

var appRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9-]{1,29}$`) })

// Rev returns the commit ref points to in app's repository, or "" when the
// ref does not exist.
func (s *Server) Rev(app, ref string) string {
	out, err := exec.Command("git", "-C", s.RepoDir(app), "rev-parse", "--verify", "-q", ref).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// RepoDir is the bare repository of app.
func (s *Server) RepoDir(app string) string { return filepath.Join(s.Root, app+".git") }

func (s *Server) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// flushWriter flushes after every write so that the deploy's output reaches
// the pusher while it happens.
type flushWriter struct{ http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.ResponseWriter.Write(p)
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

func (f flushWriter) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

type logWriter struct{ s *Server }

func (l logWriter) Write(p []byte) (int, error) {
	l.s.logf("git http-backend: %s", strings.TrimSpace(string(p)))
	return len(p), nil
}
