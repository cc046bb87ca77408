package gitserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
)

// onlyGit is what a client gets for anything but git push and fetch.
const onlyGit = "pier only accepts git push over SSH: git remote add deploy ssh://git@HOST:PORT/APP.git"

// maxSessions caps the sessions open at once on one connection.
const maxSessions = 4

// gitProtocolRE is the GIT_PROTOCOL a client may pass (protocol v2).
var gitProtocolRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9=:.]{1,64}$`) })

// serveChannels serves the session channels of one connection; every other
// channel type (port forwarding, agent forwarding) is refused.
func (s *SSHServer) serveChannels(ctx context.Context, conn *idleConn, chans <-chan ssh.NewChannel, who peer) {
	var wg sync.WaitGroup
	defer wg.Wait()
	open := make(chan struct{}, maxSessions)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.Prohibited, onlyGit)
			continue
		}
		select {
		case open <- struct{}{}:
		default:
			_ = nc.Reject(ssh.ResourceShortage, "too many sessions on one connection")
			continue
		}
		ch, reqs, err := nc.Accept()
		if err != nil {
			<-open
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-open }()
			s.serveSession(ctx, conn, ch, reqs, who)
		}()
	}
}

// serveSession waits for the session's one command, runs it, reports its
// exit status and closes the session.
func (s *SSHServer) serveSession(ctx context.Context, conn *idleConn, ch ssh.Channel, reqs <-chan *ssh.Request, who peer) {
	defer ch.Close()
	var gitProtocol string
	eol := "\n"
	for req := range reqs {
		switch req.Type {
		case "pty-req":
			// Granted, so that `ssh git@HOST` in a terminal shows why it
			// gets no shell; nothing runs on the terminal.
			eol = "\r\n"
			_ = req.Reply(true, nil)
		case "env":
			var kv struct{ Name, Value string }
			ok := ssh.Unmarshal(req.Payload, &kv) == nil && kv.Name == "GIT_PROTOCOL" && gitProtocolRE().MatchString(kv.Value)
			if ok {
				gitProtocol = kv.Value
			}
			_ = req.Reply(ok, nil)
		case "exec", "shell", "subsystem":
			_ = req.Reply(true, nil)
			var cmd struct{ Command string }
			if req.Type == "exec" && ssh.Unmarshal(req.Payload, &cmd) != nil {
				cmd.Command = ""
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { defer wg.Done(); refuseRequests(reqs) }()
			code, allowed := s.runCommand(ctx, conn, ch, &wg, cmd.Command, gitProtocol, who, eol)
			_ = ch.CloseWrite()
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			ch.Close() // ends refuseRequests and the copy of stdin
			wg.Wait()
			if !allowed {
				conn.Close() // the key was removed: nothing more on this connection
			}
			return
		default: // x11-req, auth-agent-req, window-change, ...
			_ = req.Reply(false, nil)
		}
	}
}

func refuseRequests(reqs <-chan *ssh.Request) {
	for req := range reqs {
		_ = req.Reply(false, nil)
	}
}

// gitCommand is a git command a client may run over SSH.
type gitCommand struct {
	service string // receive-pack or upload-pack
	app     string
}

// parseGitCommand reads "git-receive-pack '/APP.git'" (or upload-pack; the
// path may lack the slash, the quotes or .git).
func parseGitCommand(line string) (gitCommand, error) {
	verb, arg, ok := strings.Cut(strings.TrimSpace(line), " ")
	var c gitCommand
	switch verb {
	case "git-receive-pack":
		c.service = "receive-pack"
	case "git-upload-pack":
		c.service = "upload-pack"
	default:
		return c, errors.New(onlyGit)
	}
	if !ok {
		return c, errors.New(onlyGit)
	}
	arg = strings.TrimSpace(arg)
	if len(arg) >= 2 && arg[0] == '\'' && arg[len(arg)-1] == '\'' {
		arg = arg[1 : len(arg)-1]
	}
	name := strings.TrimSuffix(strings.TrimPrefix(arg, "/"), ".git")
	if !ValidApp(name) {
		return c, fmt.Errorf("%q is not a pier app repository: use ssh://git@HOST:PORT/APP.git with the name of an app (pier apps list)", arg)
	}
	c.app = name
	return c, nil
}

// runCommand runs one client command and returns its exit status. Anything
// but git push or fetch of a known app gets a message and status 1. The key
// is checked again first, as a connection may outlive it: allowed is false
// when it no longer may push, and then nothing ran.
func (s *SSHServer) runCommand(ctx context.Context, conn *idleConn, ch ssh.Channel, wg *sync.WaitGroup, line, gitProtocol string, who peer, eol string) (code int, allowed bool) {
	refuse := func(msg string) int {
		fmt.Fprintf(ch.Stderr(), "%s !     %s%s%s", eol, msg, eol, eol)
		return 1
	}
	if _, ok := s.Authorize(who.key); !ok {
		s.logf("ssh: refused a command of %s: key %s is no longer allowed", who.user, who.fp)
		return refuse("this SSH key is no longer allowed (it was removed): add it again with `pier keys add`"), false
	}
	return s.runAllowed(ctx, conn, ch, wg, line, gitProtocol, who, refuse), true
}

// runAllowed is runCommand for a key still allowed.
func (s *SSHServer) runAllowed(ctx context.Context, conn *idleConn, ch ssh.Channel, wg *sync.WaitGroup, line, gitProtocol string, who peer, refuse func(string) int) int {
	user := who.user
	gc, err := parseGitCommand(line)
	if err != nil {
		return refuse(err.Error())
	}
	push := gc.service == "receive-pack"
	if s.Permit != nil {
		if err := s.Permit(who.key, gc.app, push); err != nil {
			s.logf("ssh: refused git %s %s to %s: %v", gc.service, gc.app, user, err)
			return refuse(err.Error())
		}
	}
	g := s.Git
	if g.AppExists != nil && !g.AppExists(gc.app) {
		return refuse(fmt.Sprintf("app %q does not exist: create it with `pier apps create %s`", gc.app, gc.app))
	}
	if err := g.EnsureRepo(gc.app); err != nil {
		s.logf("ssh: preparing the repository of %s: %v", gc.app, err)
		return refuse("the app's repository could not be prepared; see the agent's log")
	}
	conn.busy.Add(1)
	defer conn.busy.Add(-1)
	s.logf("ssh: git %s %s by %s", gc.service, gc.app, user)
	code, err := s.runGit(ctx, ch, wg, gc, gitProtocol, user)
	if err != nil {
		s.logf("ssh: git %s %s: %v", gc.service, gc.app, err)
		code = refuse("git could not run on the pier host; see the agent's log")
	}
	if s.Ran != nil {
		s.Ran(who.key, gc.app, push, code, conn.RemoteAddr())
	}
	return code
}

// runGit runs git's service in the app's repository with the channel as its
// standard streams. The copy of the client's input joins wg: it ends at the
// client's EOF, or when the caller closes the channel.
func (s *SSHServer) runGit(ctx context.Context, ch ssh.Channel, wg *sync.WaitGroup, gc gitCommand, gitProtocol, user string) (int, error) {
	g := s.Git
	cmd := exec.CommandContext(ctx, "git", gc.service, g.RepoDir(gc.app))
	cmd.Dir = g.Root
	for _, k := range inheritedEnv {
		if v, ok := os.LookupEnv(k); ok {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	cmd.Env = append(cmd.Env, g.gitEnv(gc.app, user)...)
	if gitProtocol != "" {
		cmd.Env = append(cmd.Env, "GIT_PROTOCOL="+gitProtocol)
	}
	cmd.Stdout, cmd.Stderr = ch, ch.Stderr()
	cmd.WaitDelay = 10 * time.Second // a hook's leftover child must not hold the session
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _ = io.Copy(stdin, ch)
		stdin.Close()
	}()
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() < 0 { // killed: the agent is stopping
			return 1, nil
		}
		return ee.ExitCode(), nil
	}
	if err != nil && !errors.Is(err, exec.ErrWaitDelay) {
		return 0, err
	}
	return 0, nil
}
