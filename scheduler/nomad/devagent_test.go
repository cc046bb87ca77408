package nomad

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/nomad/api"

	"github.com/pierhq/pier/scheduler/schedulertest"
)

// devAddonVolume is the host volume the dev agent's client offers to the
// add-on tests.
const devAddonVolume = "pier-test-addon"

// devAgent is a `nomad agent -dev` of a test, with ACLs on.
type devAgent struct {
	Addr  string // http://127.0.0.1:PORT
	Token string // the bootstrap (management) token
	log   string
}

var (
	agentOnce sync.Once
	agent     *devAgent
	agentErr  error
	agentStop func()
)

// TestMain stops the shared dev agent after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if agentStop != nil {
		agentStop()
	}
	os.Exit(code)
}

// startAgent starts (once for the package's tests) a Nomad dev agent on
// free ports of 127.0.0.1 with raw_exec and ACLs enabled, or skips the
// test when no nomad binary is on PATH (fails when PIER_REQUIRE names it).
func startAgent(t *testing.T) *devAgent {
	t.Helper()
	bin := schedulertest.RequireBinary(t, "nomad")
	agentOnce.Do(func() { agent, agentErr = launch(bin) })
	if agentErr != nil {
		t.Fatalf("starting a nomad dev agent: %v", agentErr)
	}
	return agent
}

func launch(bin string) (*devAgent, error) {
	dir, err := os.MkdirTemp("", "pier-nomad-test-")
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`data_dir = %q
ports {
  http = %d
  rpc  = %d
  serf = %d
}
acl {
  enabled = true
}
plugin "raw_exec" {
  config {
    enabled = true
  }
}
client {
  host_volume %q {
    path      = %q
    read_only = false
  }
}
`, filepath.Join(dir, "data"), ports[0], ports[1], ports[2], devAddonVolume, filepath.Join(dir, "addon-volume"))
	if err := os.MkdirAll(filepath.Join(dir, "addon-volume"), 0o777); err != nil {
		return nil, err
	}
	confPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "agent.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "agent", "-dev", "-bind", "127.0.0.1", "-config", confPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	agentStop = func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		os.RemoveAll(dir)
	}
	a := &devAgent{Addr: fmt.Sprintf("http://127.0.0.1:%d", ports[0]), log: logPath}
	if err := a.ready(exited); err != nil {
		b, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w\nagent log:\n%s", err, tail(string(b), 3000))
	}
	return a, nil
}

// ready bootstraps ACLs and waits for a client node with raw_exec.
func (a *devAgent) ready(exited <-chan struct{}) error {
	c, err := api.NewClient(&api.Config{Address: a.Addr})
	if err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	for ; ; time.Sleep(250 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("the agent exited")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the agent was not ready after 90s")
		}
		if a.Token == "" {
			tok, _, err := c.ACLTokens().Bootstrap(nil)
			if err != nil {
				continue
			}
			a.Token = tok.SecretID
			c.SetSecretID(a.Token)
		}
		nodes, _, err := c.Nodes().List(nil)
		if err != nil {
			continue
		}
		for _, n := range nodes {
			if d := n.Drivers["raw_exec"]; n.Status == "ready" && d != nil && d.Healthy {
				return nil
			}
		}
	}
}

func freePorts(n int) ([]int, error) {
	var out []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// client is an API client of the agent with the management token.
func (a *devAgent) client(t *testing.T) *api.Client {
	t.Helper()
	c, err := api.NewClient(&api.Config{Address: a.Addr, SecretID: a.Token})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// agentLog returns the end of the agent's log, for failure messages.
func (a *devAgent) agentLog() string {
	b, _ := os.ReadFile(a.log)
	return tail(strings.TrimSpace(string(b)), 4000)
}

func bg(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
