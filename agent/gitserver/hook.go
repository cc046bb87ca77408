package gitserver

import (
	"bufio"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// The pre-receive hook has two halves in two processes. RunHook runs in
// git's process (`pier hook pre-receive`): it checks the pushed refs and
// posts the pushed tree to the agent. Hook.ServeHTTP runs in the agent: it
// hands the push to the deployer's callback and streams its output back,
// ending with the exit trailer of package api (as `pier run` does). The environment below joins the two.
const (
	envHookURL   = "PIER_HOOK_URL"
	envHookToken = "PIER_HOOK_TOKEN"
	envHookApp   = "PIER_HOOK_APP"
	envHookUser  = "PIER_HOOK_USER"
	envBin       = "PIER_BIN"
)

const zeroRev = "0000000000000000000000000000000000000000"

// Push is one `git push` of a branch that deploys.
type Push struct {
	App    string
	User   string    // who pushes (the token's or key's name)
	Ref    string    // refs/heads/main
	Old    string    // the ref's value the push was made against; "" for a new branch
	Commit string    // the pushed commit
	Tar    io.Reader // the pushed tree (git archive)
}

// PushFunc deploys a push, writing its progress to out. An error fails the
// push; its message is shown to the pusher.
type PushFunc func(ctx context.Context, p Push, out io.Writer) error

// Hook is the agent's half of the pre-receive hook.
type Hook struct {
	Executable string        // the pier binary git runs the hook with
	URL        func() string // where the hook reaches ServeHTTP (known once the agent listens)
	Token      string        // the hook's credential: random, never an API token
	AppExists  func(app string) bool
	Push       PushFunc
}

// Env is the environment git and the hook get for a push of app by user
// (the Server's HookEnv).
func (h *Hook) Env(app, user string) []string {
	return []string{envBin + "=" + h.Executable, envHookURL + "=" + h.URL(), envHookToken + "=" + h.Token, envHookApp + "=" + app, envHookUser + "=" + user}
}

// ServeHTTP receives a pushed tree from RunHook, hands it to h.Push and
// streams the output, ending with the exit trailer.
func (h *Hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(h.Token)) != 1 {
		http.Error(w, "not allowed", http.StatusUnauthorized)
		return
	}
	q := r.URL.Query()
	app := q.Get("app")
	if !h.AppExists(app) {
		http.Error(w, fmt.Sprintf("app %q does not exist", app), http.StatusNotFound)
		return
	}
	old := q.Get("old")
	if old == zeroRev {
		old = ""
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	out := flushWriter{w}
	err := h.Push(r.Context(), Push{App: app, User: q.Get("user"), Ref: q.Get("ref"), Old: old, Commit: q.Get("rev"), Tar: r.Body}, out)
	code := 0
	if err != nil {
		code = 1
		fmt.Fprintf(out, "\n !     %s\n !     Push rejected to %s.\n\n", strings.ReplaceAll(err.Error(), "\n", "\n !     "), app)
	}
	fmt.Fprintf(out, "%s%d\n", api.RunExitPrefix, code)
}

// hookError carries the hook's exit status to the CLI.
type hookError struct {
	msg  string
	code int
}

func (e *hookError) Error() string { return e.msg }
func (e *hookError) ExitCode() int { return e.code }

// RunHook runs a git hook ("pre-receive") inside a repository the agent
// serves: it checks the pushed refs, sends the pushed tree to the agent and
// streams the build and deploy. A non-nil error fails the push.
func RunHook(ctx context.Context, hook string, stdin io.Reader, stdout, stderr io.Writer) error {
	if hook != "pre-receive" {
		return fmt.Errorf("unknown hook %q", hook)
	}
	hookURL, token, app := os.Getenv(envHookURL), os.Getenv(envHookToken), os.Getenv(envHookApp)
	if hookURL == "" || token == "" || app == "" {
		return errors.New("this hook runs only inside a push to a pier agent")
	}
	refs, err := readRefs(stdin)
	if err != nil {
		fmt.Fprintf(stderr, "\n !     %v\n\n", err)
		return &hookError{code: 1}
	}
	if len(refs) == 0 {
		return nil
	}
	ref := refs[0]
	return pushTree(ctx, hookURL, token, app, os.Getenv(envHookUser), ref, stdout, stderr)
}

type pushedRef struct{ old, new, name string }

// readRefs reads "old new ref" lines and refuses anything but one push of
// main or master.
func readRefs(r io.Reader) ([]pushedRef, error) {
	var refs []pushedRef
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		ref := pushedRef{old: f[0], new: f[1], name: f[2]}
		branch := strings.TrimPrefix(ref.name, "refs/heads/")
		switch {
		case branch != "main" && branch != "master":
			return nil, fmt.Errorf("pier deploys only the main or master branch, not %s.\n !     Push yours with: git push deploy %s:main", ref.name, shortRef(ref.name))
		case ref.new == zeroRev:
			return nil, fmt.Errorf("deleting %s is not allowed: it is what the app deploys from", ref.name)
		}
		refs = append(refs, ref)
	}
	if len(refs) > 1 {
		return nil, errors.New("push main or master, not both at once")
	}
	return refs, sc.Err()
}

func shortRef(ref string) string {
	return strings.TrimPrefix(strings.TrimPrefix(ref, "refs/heads/"), "refs/tags/")
}

var hookDialer = net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}

// pushTree streams `git archive` of the pushed commit to the agent and
// copies the agent's answer (the build and deploy output) to out.
func pushTree(ctx context.Context, hookURL, token, app, user string, ref pushedRef, out, errOut io.Writer) error {
	archive := exec.CommandContext(ctx, "git", "archive", "--format=tar", ref.new)
	archive.Stderr = errOut
	tarStream, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	if err := archive.Start(); err != nil {
		return fmt.Errorf("reading the pushed commit: %w", err)
	}
	defer func() { _ = archive.Wait() }()

	q := url.Values{"app": {app}, "rev": {ref.new}, "old": {ref.old}, "ref": {ref.name}, "user": {user}}
	// #nosec G704 -- hookURL is the agent's own, written into the hook's environment by the agent
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(hookURL, "/")+"/internal/push?"+q.Encode(), tarStream)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-tar")
	// No overall timeout: a build may take minutes. The dial is bounded.
	client := &http.Client{Transport: &http.Transport{DialContext: hookDialer.DialContext}}
	resp, err := client.Do(req) // #nosec G704 -- the agent's own URL, as above
	if err != nil {
		fmt.Fprintf(errOut, "\n !     the pier agent could not be reached: %v\n\n", err)
		return &hookError{code: 1}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		fmt.Fprintf(errOut, "\n !     %s\n\n", strings.TrimSpace(string(b)))
		return &hookError{code: 1}
	}
	code, err := api.CopyRunOutput(out, resp.Body)
	if err != nil {
		fmt.Fprintf(errOut, "\n !     the deploy's output was cut off: %v\n\n", err)
		return &hookError{code: 1}
	}
	if code != 0 {
		return &hookError{code: code}
	}
	return nil
}
