package buildpacks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"golang.org/x/sys/unix"

	"github.com/pierhq/pier/sandbox"
)

// pluginSpec says how to start one buildpack's plugin process.
type pluginSpec struct {
	ref  string   // as the user named it
	key  string   // names its cache directory
	path string   // executable
	args []string // arguments
	env  []string // added to the minimal environment
}

// pluginProc is a running buildpack plugin process. Its process group
// holds every process the buildpack starts, so close and a cancelled ctx
// take them all down.
type pluginProc struct {
	spec   pluginSpec
	client *plugin.Client
	bp     Buildpack
	pid    int
	stderr *tailBuffer
	stop   func() bool // unregisters the ctx watchdog
	cmd    *exec.Cmd   // its ProcessState is go-plugin's to set, read once Exited
	sock   string      // a directory of its own for its socket, or ""
}

// maxSocketDir is the longest directory a plugin's socket may be made in:
// go-plugin names it DIR/pluginNNNNNNNNNN, and a Unix socket's path has
// 107 bytes at most.
const maxSocketDir = 90

// socketDir gives a plugin whose home is too deep for a socket path (a
// long data dir) a short directory of its own for its socket, owned by
// the build's user; "" when its home will do. go-plugin's server makes
// its socket in PLUGIN_UNIX_SOCKET_DIR.
func socketDir(home string, user sandbox.Identity) (string, error) {
	if len(home) <= maxSocketDir {
		return "", nil
	}
	dir, err := os.MkdirTemp("", "pier-plugin-")
	if err != nil {
		return "", fmt.Errorf("making a directory for the buildpack's socket: %w", err)
	}
	if err := user.Chown(dir); err != nil {
		os.Remove(dir)
		return "", fmt.Errorf("giving the buildpack's socket directory to its user: %w", err)
	}
	return dir, nil
}

// passEnv are the agent's environment variables a build may see: where
// programs are and how to reach the network. Nothing else of the agent's
// environment (which holds its secrets) reaches a buildpack.
var passEnv = []string{
	"PATH", "LANG", "LC_ALL", "TZ",
	"GOROOT", "GOPROXY", "GOSUMDB", "GONOSUMDB",
	"PYENV_ROOT", "PYENV_VERSION", "GORACE",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "NPM_CONFIG_REGISTRY", "NODEJS_ORG_MIRROR",
	"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
}

// pluginEnv is a plugin's whole environment.
func pluginEnv(home string, extra []string) []string {
	env := []string{"HOME=" + home, "TMPDIR=" + home}
	have := map[string]bool{}
	for _, k := range passEnv {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
			have[k] = true
		}
	}
	if !have["PATH"] {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	if !have["LANG"] {
		env = append(env, "LANG=C.UTF-8")
	}
	return append(env, extra...)
}

// start launches the plugin process of spec as user and dispenses its
// Buildpack.
func (b *Builder) start(ctx context.Context, spec pluginSpec, home string, user sandbox.Identity) (*pluginProc, error) {
	path := b.reachable(spec.path, user)
	sock, err := socketDir(home, user)
	if err != nil {
		return nil, err
	}
	env := append(spec.env, fmt.Sprintf("%s=%d", memoryLimitEnv, b.memoryLimit()))
	if sock != "" {
		env = append(env, plugin.EnvUnixSocketDir+"="+sock)
	}
	cmd := exec.Command(path, spec.args...)
	cmd.Env = pluginEnv(home, env)
	cmd.Dir = home
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	user.Apply(cmd.SysProcAttr)
	tail := &tailBuffer{max: 8 << 10}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  Handshake,
		Plugins:          PluginMap,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SkipHostEnv:      true,
		StartTimeout:     30 * time.Second,
		Stderr:           tail,
		Logger:           hclog.New(&hclog.LoggerOptions{Output: io.Discard, Level: hclog.Off}),
	})
	p := &pluginProc{spec: spec, client: client, stderr: tail, cmd: cmd, sock: sock}
	rpc, err := client.Client()
	if cmd.Process != nil {
		p.pid = cmd.Process.Pid
	}
	if err != nil {
		p.close()
		return nil, fmt.Errorf("starting buildpack %s: %w%s", spec.ref, err, tail.suffix())
	}
	p.stop = context.AfterFunc(ctx, p.killGroup)
	if path != "/proc/self/exe" {
		// pier's own plugins cap themselves (Serve); another user's
		// process may not be capped from outside without CAP_SYS_RESOURCE.
		b.limitMemory(p.pid)
	}
	raw, err := rpc.Dispense(PluginName)
	if err != nil {
		p.close()
		return nil, fmt.Errorf("starting buildpack %s: %w", spec.ref, err)
	}
	bp, ok := raw.(Buildpack)
	if !ok {
		p.close()
		return nil, fmt.Errorf("starting buildpack %s: the plugin does not serve a buildpack", spec.ref)
	}
	p.bp = bp
	return p, nil
}

// reachable is the path user starts exe by. pier's own binary may lie
// where the build's user cannot look (a home directory, a test's temporary
// directory): the child, still a copy of this process when it calls exec,
// reaches it as /proc/self/exe whatever the directories around it allow.
func (b *Builder) reachable(exe string, user sandbox.Identity) string {
	if !user.Isolated() {
		return exe
	}
	if self, err := os.Executable(); err == nil && self == exe {
		return "/proc/self/exe"
	}
	return exe
}

// memoryLimitEnv tells a plugin of pier's own the cap of its data segment,
// which it sets itself before it serves: the agent may not set the limits of
// a process that runs as another user.
const memoryLimitEnv = "PIER_BUILD_MEMORY_LIMIT"

// limitOwnMemory caps this process's data segment (and its children's) at
// limit bytes; "" or a non-positive limit sets none.
func limitOwnMemory(limit string) error {
	n, err := strconv.ParseInt(limit, 10, 64)
	if limit == "" || err == nil && n <= 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("$%s=%q: want a number of bytes", memoryLimitEnv, limit)
	}
	rl := unix.Rlimit{Cur: uint64(n), Max: uint64(n)}
	if err := unix.Setrlimit(unix.RLIMIT_DATA, &rl); err != nil {
		return fmt.Errorf("capping the buildpack's memory at %d bytes: %w", n, err)
	}
	return nil
}

// limitMemory caps the data segment of the plugin and everything it
// starts (children inherit the limit). Hosts that refuse are logged, not
// fatal.
func (b *Builder) limitMemory(pid int) {
	lim := b.memoryLimit()
	if lim <= 0 || pid <= 0 {
		return
	}
	rl := unix.Rlimit{Cur: uint64(lim), Max: uint64(lim)}
	if err := unix.Prlimit(pid, unix.RLIMIT_DATA, &rl, nil); err != nil {
		b.logf("buildpacks: cannot cap the memory of the plugin process: %v", err)
	}
}

// killGroup kills the plugin and every process it started.
func (p *pluginProc) killGroup() {
	if p.pid > 0 {
		_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	}
}

// close stops the plugin process and whatever it left running.
func (p *pluginProc) close() {
	if p.stop != nil {
		p.stop()
	}
	p.client.Kill()
	p.killGroup()
	if p.sock != "" {
		os.RemoveAll(p.sock)
	}
}

// explain turns a failed call into what the user should read: a crash
// names the plugin's last words, a timeout says so.
func (p *pluginProc) explain(ctx context.Context, what string, err error, timeout time.Duration) error {
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: the build took longer than %s and was stopped: make it faster or raise the build timeout", what, timeout)
	case ctx.Err() != nil:
		return fmt.Errorf("%s: the build was cancelled (the push was interrupted)", what)
	case errors.Is(err, errPluginGone):
		for i := 0; i < 40 && !p.client.Exited(); i++ {
			time.Sleep(25 * time.Millisecond)
		}
		if sig := p.killedBy(); sig != "" {
			return fmt.Errorf("%s: the buildpack process was killed (%s)%s", what, sig, p.stderr.suffix())
		}
		return fmt.Errorf("%s: the buildpack process crashed%s", what, p.stderr.suffix())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// killedBy names the signal that ended the plugin ("" when it exited by
// itself, or has not been seen to end).
func (p *pluginProc) killedBy() string {
	if !p.client.Exited() || p.cmd.ProcessState == nil {
		return ""
	}
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return ""
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
	// crash is the first "panic:" or "fatal error:" line, kept even when a
	// long stack trace pushes it out of the tail.
	crash string
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.crash == "" {
		for _, marker := range []string{"\npanic:", "\nfatal error:"} {
			all := append([]byte("\n"), append(t.b, p...)...)
			if i := strings.Index(string(all), marker); i >= 0 {
				line, _, _ := strings.Cut(string(all[i+1:]), "\n")
				t.crash = line
				break
			}
		}
	}
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

// suffix is ": <last lines>" or "" when the plugin said nothing.
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.crash != "" {
		return ": " + t.crash // what a Go crash says first says most
	}
	s := strings.TrimSpace(string(t.b))
	if s == "" {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(l, `{"@level"`) { // go-plugin's own log lines
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return ""
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") {
			return ": " + l // what a Go crash says first says most
		}
	}
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	return ": " + strings.Join(lines, " | ")
}
