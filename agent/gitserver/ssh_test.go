package gitserver

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// requireBinary skips the test when name is not installed, and fails it
// when PIER_REQUIRE names it.
func requireBinary(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but not installed", name)
		}
	}
	t.Skipf("%s is not installed: skipping", name)
}

// stubHook stands in for `pier hook pre-receive`: it reports what it got
// and refuses anything but main, as the real hook does.
const stubHook = `#!/bin/sh
read old new ref
echo "stub deploy of $PIER_HOOK_APP by $PIER_HOOK_USER: $ref"
[ "$ref" = refs/heads/main ] || { echo "stub refuses $ref" >&2; exit 1; }
`

// clientKey is a client's key pair, its private half in a file for ssh -i.
type clientKey struct {
	path string
	pub  ssh.PublicKey
}

func newClientKey(t *testing.T) clientKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return clientKey{path: path, pub: sp}
}

type sshFixture struct {
	srv   *SSHServer
	addr  string
	port  string
	alice clientKey
}

// startSSH serves apps "hello" and "other" for alice's key.
func startSSH(t *testing.T, tune func(*SSHServer)) *sshFixture {
	t.Helper()
	dir := t.TempDir()
	hook := filepath.Join(dir, "stub-hook")
	if err := os.WriteFile(hook, []byte(stubHook), 0o755); err != nil {
		t.Fatal(err)
	}
	f := &sshFixture{alice: newClientKey(t)}
	aliceFP := ssh.FingerprintSHA256(f.alice.pub)
	f.srv = &SSHServer{
		Git: &Server{
			Root:      filepath.Join(dir, "repos"),
			AppExists: func(app string) bool { return app == "hello" || app == "other" },
			HookEnv: func(app, user string) []string {
				return []string{"PIER_BIN=" + hook, "PIER_HOOK_APP=" + app, "PIER_HOOK_USER=" + user}
			},
		},
		HostKeyPath: filepath.Join(dir, "ssh_host_ed25519_key"),
		Authorize: func(key ssh.PublicKey) (string, bool) {
			return "alice", ssh.FingerprintSHA256(key) == aliceFP
		},
		Logf: t.Logf,
	}
	if tune != nil {
		tune(f.srv)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	_, f.port, _ = net.SplitHostPort(f.addr)
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ln) }()
	t.Cleanup(func() {
		f.srv.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return f
}

func (f *sshFixture) sshCommand(key clientKey) string {
	return fmt.Sprintf("ssh -i %s -p %s -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR", key.path, f.port)
}

// run runs a command with ssh pointed at the server by key; it returns the
// combined output and the exit status.
func (f *sshFixture) run(t *testing.T, key clientKey, dir string, name string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_SSH_COMMAND="+f.sshCommand(key), "GIT_TERMINAL_PROMPT=0",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	return string(out), 0
}

// ssh runs the ssh client itself against the server.
func (f *sshFixture) ssh(t *testing.T, key clientKey, args ...string) (string, int) {
	t.Helper()
	fields := strings.Fields(f.sshCommand(key))
	return f.run(t, key, "", fields[0], append(append(fields[1:], "git@127.0.0.1"), args...)...)
}

func (f *sshFixture) remote(app string) string {
	return "ssh://git@127.0.0.1:" + f.port + "/" + app + ".git"
}

// newCheckout makes a git repository with one commit on main.
func newCheckout(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "--quiet", "--initial-branch=main"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "first"},
	} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

func revParse(t *testing.T, dir, rev string) string {
	t.Helper()
	out, err := exec.Command("git", "-C", dir, "rev-parse", rev).CombinedOutput()
	if err != nil {
		t.Fatalf("git rev-parse %s in %s: %v\n%s", rev, dir, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestSSHPushAndFetch(t *testing.T) {
	requireBinary(t, "git")
	requireBinary(t, "ssh")
	f := startSSH(t, nil)
	src := newCheckout(t)

	out, code := f.run(t, f.alice, src, "git", "push", f.remote("hello"), "main")
	if code != 0 {
		t.Fatalf("push exited %d:\n%s", code, out)
	}
	if !strings.Contains(out, "remote: stub deploy of hello by alice: refs/heads/main") {
		t.Errorf("the push did not show the hook's output with the key's name:\n%s", out)
	}
	if got, want := revParse(t, f.srv.Git.RepoDir("hello"), "main"), revParse(t, src, "HEAD"); got != want {
		t.Errorf("the repository's main is %s, want the pushed %s", got, want)
	}

	// The scp-like form and a refused branch: the hook's refusal fails the push.
	out, code = f.run(t, f.alice, src, "git", "push", "ssh://git@127.0.0.1:"+f.port+"/hello", "main:feature")
	if code == 0 || !strings.Contains(out, "stub refuses refs/heads/feature") {
		t.Errorf("a push the hook refuses exited %d:\n%s", code, out)
	}

	// Fetch through upload-pack (protocol v2 through GIT_PROTOCOL).
	clone := filepath.Join(t.TempDir(), "clone")
	out, code = f.run(t, f.alice, "", "git", "-c", "protocol.version=2", "clone", "--quiet", f.remote("hello"), clone)
	if code != 0 {
		t.Fatalf("clone exited %d:\n%s", code, out)
	}
	if got, want := revParse(t, clone, "HEAD"), revParse(t, src, "HEAD"); got != want {
		t.Errorf("the clone's HEAD is %s, want %s", got, want)
	}
}

func TestSSHRefusals(t *testing.T) {
	requireBinary(t, "git")
	requireBinary(t, "ssh")
	f := startSSH(t, nil)
	src := newCheckout(t)

	stranger := newClientKey(t)
	out, code := f.run(t, stranger, src, "git", "push", f.remote("hello"), "main")
	if code == 0 || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("a push with an unknown key exited %d:\n%s", code, out)
	}

	out, code = f.run(t, f.alice, src, "git", "push", f.remote("nope"), "main")
	if code == 0 || !strings.Contains(out, `app "nope" does not exist: create it with `+"`pier apps create nope`") {
		t.Errorf("a push to an unknown app exited %d:\n%s", code, out)
	}

	out, code = f.ssh(t, f.alice)
	if code != 1 || !strings.Contains(out, onlyGit) {
		t.Errorf("a shell exited %d, want 1 with %q:\n%s", code, onlyGit, out)
	}
	out, code = f.ssh(t, f.alice, "-tt")
	if code != 1 || !strings.Contains(out, onlyGit) {
		t.Errorf("a shell with a terminal exited %d, want 1 with %q:\n%s", code, onlyGit, out)
	}
	out, code = f.ssh(t, f.alice, "cat /etc/passwd")
	if code != 1 || !strings.Contains(out, onlyGit) || strings.Contains(out, "root:") {
		t.Errorf("an arbitrary command exited %d:\n%s", code, out)
	}
	for _, path := range []string{"'../x.git'", "'/../../x.git'", "'hello.git/../../x.git'", "'Hello.git'"} {
		out, code = f.ssh(t, f.alice, "git-receive-pack "+path)
		if code != 1 || !strings.Contains(out, "is not a pier app repository") {
			t.Errorf("git-receive-pack %s exited %d:\n%s", path, code, out)
		}
	}
	if ents, err := os.ReadDir(filepath.Dir(f.srv.Git.Root)); err == nil {
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".git") {
				t.Errorf("a refused command created %s", e.Name())
			}
		}
	}
	if _, err := os.Stat(f.srv.Git.RepoDir("nope")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a push to an unknown app created its repository: %v", err)
	}
}

// dialGo connects with Go's SSH client as alice.
func (f *sshFixture) dialGo(t *testing.T) (*ssh.Client, error) {
	t.Helper()
	b, err := os.ReadFile(f.alice.path)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return ssh.Dial("tcp", f.addr, &ssh.ClientConfig{
		User:            "git",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
}

func waitClosed(t *testing.T, c *ssh.Client, within time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		c.Close()
		<-done
		t.Errorf("%s: the connection was still open after %s", what, within)
	}
}

func TestSSHLimits(t *testing.T) {
	f := startSSH(t, func(s *SSHServer) {
		s.MaxConns = 1
		s.IdleTimeout = 300 * time.Millisecond
		s.HandshakeTimeout = 300 * time.Millisecond
	})

	c, err := f.dialGo(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dial("tcp", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "administratively prohibited") {
		t.Errorf("port forwarding: got %v, want a refusal", err)
	}
	if c2, err := f.dialGo(t); err == nil {
		c2.Close()
		t.Error("a second connection was accepted with MaxConns 1")
	}
	waitClosed(t, c, 5*time.Second, "idle limit")
}

func TestSSHHandshakeTimeout(t *testing.T) {
	f := startSSH(t, func(s *SSHServer) { s.HandshakeTimeout = 300 * time.Millisecond })
	// A client that never finishes the handshake is dropped.
	raw, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
	var buf bytes.Buffer
	_, err = buf.ReadFrom(raw)
	if err != nil {
		t.Errorf("a silent client was not dropped: %v", err)
	}
	if !strings.HasPrefix(buf.String(), "SSH-2.0-pier") {
		t.Errorf("the server said %q, want its version first", buf.String())
	}
}

func TestSSHCloseEndsConnections(t *testing.T) {
	f := startSSH(t, nil)
	c, err := f.dialGo(t)
	if err != nil {
		t.Fatal(err)
	}
	f.srv.Close()
	waitClosed(t, c, 5*time.Second, "Close")
	if _, err := f.dialGo(t); err == nil {
		t.Error("a connection was accepted after Close")
	}
}

func TestLoadOrCreateHostKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ssh_host_ed25519_key")
	k1, err := LoadOrCreateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("host key mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreateHostKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.PublicKey().Marshal(), k2.PublicKey().Marshal()) {
		t.Error("the host key changed on reload")
	}
	if k1.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Errorf("host key type %s, want ed25519", k1.PublicKey().Type())
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateHostKey(path); err == nil || !strings.Contains(err.Error(), "move it away") {
		t.Errorf("a corrupt host key: got %v, want an error saying what to do", err)
	}
}

func TestParseGitCommand(t *testing.T) {
	tests := []struct {
		line, service, app string
		ok                 bool
	}{
		{"git-receive-pack '/hello.git'", "receive-pack", "hello", true},
		{"git-receive-pack 'hello.git'", "receive-pack", "hello", true},
		{"git-receive-pack '/hello'", "receive-pack", "hello", true},
		{"git-upload-pack '/my-app.git'", "upload-pack", "my-app", true},
		{"git-receive-pack hello.git", "receive-pack", "hello", true},
		{"git-receive-pack '../x.git'", "", "", false},
		{"git-receive-pack '/a/b.git'", "", "", false},
		{"git-receive-pack 'hello.git'; rm -rf /", "", "", false},
		{"git-receive-pack", "", "", false},
		{"git-upload-archive '/hello.git'", "", "", false},
		{"sh -c id", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		c, err := parseGitCommand(tt.line)
		if (err == nil) != tt.ok || (tt.ok && (c.service != tt.service || c.app != tt.app)) {
			t.Errorf("parseGitCommand(%q) = %+v, %v; want %s %s ok=%v", tt.line, c, err, tt.service, tt.app, tt.ok)
		}
	}
}

// runGo runs one command in a new session of c and returns its output.
func runGo(c *ssh.Client, command string) (string, error) {
	sess, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer sess.Close()
	out, err := sess.CombinedOutput(command)
	return string(out), err
}

func TestSSHRemovedKeyRunsNoMoreCommands(t *testing.T) {
	var removed atomic.Bool
	f := startSSH(t, func(s *SSHServer) {
		allow := s.Authorize
		s.Authorize = func(key ssh.PublicKey) (string, bool) {
			if removed.Load() {
				return "", false
			}
			return allow(key)
		}
	})
	c, err := f.dialGo(t)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, _ := runGo(c, "ls"); !strings.Contains(out, onlyGit) {
		t.Fatalf("a first command got %q, want the git-only refusal", out)
	}
	// The key is removed, but nobody closes its connection: the next
	// command on it is refused all the same, and the connection ends.
	removed.Store(true)
	out, err := runGo(c, "git-receive-pack '/hello.git'")
	if err == nil || !strings.Contains(out, "no longer allowed") {
		t.Errorf("a command after the key's removal: %v, %q; want a refusal", err, out)
	}
	waitClosed(t, c, 5*time.Second, "a removed key's connection")
	if _, err := os.Stat(f.srv.Git.RepoDir("hello")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the refused command reached git: %v", err)
	}
}

func TestSSHCloseKeyEndsItsConnections(t *testing.T) {
	f := startSSH(t, nil)
	c, err := f.dialGo(t)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if out, _ := runGo(c, "ls"); !strings.Contains(out, onlyGit) {
		t.Fatalf("a first command got %q", out)
	}
	if n := f.srv.CloseKey("SHA256:not-this-one"); n != 0 {
		t.Errorf("CloseKey of another key closed %d connections", n)
	}
	if n := f.srv.CloseKey(ssh.FingerprintSHA256(f.alice.pub)); n != 1 {
		t.Errorf("CloseKey = %d, want 1", n)
	}
	waitClosed(t, c, 2*time.Second, "CloseKey")
	if _, err := runGo(c, "ls"); err == nil {
		t.Error("a command ran on a connection CloseKey closed")
	}
}

// TestSSHIdleFloodFromOneAddress opens 100 idle connections from
// 127.0.0.2 (Linux routes all of 127.0.0.0/8 to the loopback), as many as
// the server's cap, and checks that only a few are held and a push from
// 127.0.0.1 still goes through.
func TestSSHIdleFloodFromOneAddress(t *testing.T) {
	requireBinary(t, "git")
	requireBinary(t, "ssh")
	var logs strings.Builder
	var logMu sync.Mutex
	f := startSSH(t, func(s *SSHServer) {
		s.Logf = func(format string, args ...any) {
			logMu.Lock()
			defer logMu.Unlock()
			fmt.Fprintf(&logs, format+"\n", args...)
		}
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var flood []net.Conn
	defer func() {
		for _, c := range flood {
			c.Close()
		}
	}()
	for range DefaultSSHMaxConns {
		c, err := d.Dial("tcp", f.addr)
		if err != nil {
			t.Fatalf("dialing from 127.0.0.2: %v", err)
		}
		flood = append(flood, c)
	}
	// The server closes the connections over the per-address cap at once;
	// the others wait, silent, for a handshake that never comes.
	var held atomic.Int32
	var wg sync.WaitGroup
	for _, c := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := io.ReadAll(c); err != nil { // the deadline: still open
				held.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := held.Load(); n > DefaultSSHMaxPreAuthPerIP {
		t.Errorf("%d idle connections from one address are held, want at most %d", n, DefaultSSHMaxPreAuthPerIP)
	}

	src := newCheckout(t)
	out, code := f.run(t, f.alice, src, "git", "push", f.remote("hello"), "main")
	if code != 0 {
		t.Fatalf("a push from 127.0.0.1 during the flood exited %d:\n%s", code, out)
	}

	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logs.String(), "refused"); n != 1 || !strings.Contains(logs.String(), "127.0.0.2") {
		t.Errorf("the refusals were logged %d times, want once, naming 127.0.0.2:\n%s", n, logs.String())
	}
}
