package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pierhq/pier/api"
)

// runningAgent is the agent a `pier upgrade` hands over, as its pid file
// and /proc tell: its process, the binary path it re-executes on SIGHUP
// (its argv[0], as the handover runs it), its API and a token.
type runningAgent struct {
	dataDir string
	pid     int
	binary  string
	apiURL  string
	token   string
}

// findAgent finds the agent that holds dataDir.
func findAgent(dataDir string) (runningAgent, error) {
	a := runningAgent{dataDir: dataDir}
	pid, err := a.pidFromFile()
	if err != nil {
		return a, fmt.Errorf("no agent runs on %s (%v): start it first (systemctl start pier), or give its --data-dir", dataDir, err)
	}
	a.pid = pid
	argv, err := procStrings(pid, "cmdline")
	if err != nil || len(argv) == 0 {
		return a, fmt.Errorf("reading the agent's command line (pid %d): %v: run pier upgrade as the agent's user (root)", pid, err)
	}
	a.binary = argv[0]
	if !filepath.IsAbs(a.binary) {
		cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		if err != nil {
			return a, fmt.Errorf("reading the agent's working directory: %w", err)
		}
		a.binary = filepath.Join(cwd, a.binary)
	}
	env, err := procStrings(pid, "environ")
	if err != nil {
		return a, fmt.Errorf("reading the agent's environment: %w", err)
	}
	apiAddr := flagOrEnv(argv, env, "api-addr", "127.0.0.1:7070")
	a.apiURL = "http://" + dialable(apiAddr)
	// The token: the caller's, else the admin token the agent keeps
	// (rotate-admin rewrites the file), else the one it was started with.
	a.token = os.Getenv("PIER_TOKEN")
	if a.token == "" {
		if b, err := os.ReadFile(filepath.Join(dataDir, "admin.token")); err == nil {
			a.token = strings.TrimSpace(string(b))
		}
	}
	if a.token == "" {
		a.token = lookupEnv(env, "PIER_ADMIN_TOKEN")
	}
	return a, nil
}

// pidFromFile is the pid in the data dir's pid file, if that process runs.
func (a runningAgent) pidFromFile() (int, error) {
	b, err := os.ReadFile(filepath.Join(a.dataDir, "pier.pid"))
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pier.pid holds %q", b)
	}
	if !processRuns(pid) {
		return 0, fmt.Errorf("pier.pid names process %d, which does not run", pid)
	}
	return pid, nil
}

// processRuns reports whether pid is a process that has not exited.
func processRuns(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// A zombie has exited; its parent has not reaped it yet.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// procStrings reads a NUL-separated /proc/PID file (cmdline, environ).
func procStrings(pid int, name string) ([]string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, name))
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), nil
}

// flagOrEnv is an agent flag as the agent read it: from its command line,
// else its PIER_* variable, else the default.
func flagOrEnv(argv, env []string, name, def string) string {
	for i, arg := range argv {
		for _, p := range []string{"--" + name, "-" + name} {
			if v, ok := strings.CutPrefix(arg, p+"="); ok {
				return v
			}
			if arg == p && i+1 < len(argv) {
				return argv[i+1]
			}
		}
	}
	if v := lookupEnv(env, envName(name)); v != "" {
		return v
	}
	return def
}

func lookupEnv(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// dialable turns a listen address into one to dial: ":7070" and
// "0.0.0.0:7070" are reached on 127.0.0.1.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// readyTimeout bounds one question to the agent while waiting for it.
const readyTimeout = 2 * time.Second

// serving reports whether the agent whose pid file names pid answers
// /readyz with 200 and reports version; it returns what it saw otherwise.
func (a runningAgent) serving(ctx context.Context, pid int, version string) (bool, string) {
	now, err := a.pidFromFile()
	if err != nil {
		return false, err.Error()
	}
	if now != pid {
		return false, fmt.Sprintf("pid file names %d", now)
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.apiURL+"/readyz", nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, "/readyz answers " + resp.Status
	}
	v, err := api.NewClient(a.apiURL, a.token).Version(ctx)
	if err != nil {
		return false, "asking its version: " + err.Error()
	}
	if v.Version != version {
		return false, fmt.Sprintf("it reports version %s, not %s", v.Version, version)
	}
	return true, ""
}

// handoverChild is the process the agent started from binary for a
// handover that has not finished: a child of pid running that file.
func handoverChild(pid int, binary string) int {
	want, err := os.Stat(binary)
	if err != nil {
		return 0
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(st, ')')
		f := strings.Fields(string(st[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(pid) {
			continue
		}
		if exe, err := os.Stat("/proc/" + e.Name() + "/exe"); err == nil && os.SameFile(exe, want) {
			return child
		}
	}
	return 0
}

// failedHandovers is the agent's count of handovers it went on after
// (pier_agent_handovers_failed_total on /metrics).
func (a runningAgent) failedHandovers(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.apiURL+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics answers %s", resp.Status)
	}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "pier_agent_handovers_failed_total "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("the agent exports no pier_agent_handovers_failed_total")
}
