package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestNomad runs the quickstart on a Nomad dev agent instead of the local
// scheduler: push, config release, rollback to the standby, scale, a
// one-off, logs, and a killed instance, while clients keep sending requests
// that must all succeed. It runs when a nomad binary is on PATH.
func TestNomad(t *testing.T) {
	needE2E(t)
	nomadBin := requireBinary(t, "nomad")
	nomadAddr := startNomad(t, nomadBin)
	a := startAgent(t, agentOpts{extra: []string{"PIER_SCHEDULER=nomad", "PIER_NOMAD_ADDR=" + nomadAddr}})
	a.mustPier("apps", "create", "hello")
	t.Cleanup(func() { a.pier("apps", "destroy", "-a", "hello", "--confirm", "hello") })
	shareGoBuildCache(t, a, "hello")
	repo := newRepo(t, "hello")
	repo.remote(a, "hello", a.token)
	if out, err := repo.push("main"); err != nil || !strings.Contains(out, "Released v1") {
		t.Fatalf("push to Nomad: %v\n%s", err, out)
	}

	var sent, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, _, err := a.tryGet("hello.localhost", "/")
				sent.Add(1)
				if err != nil || code != 200 || !strings.Contains(body, "from hello v") {
					failed.Add(1)
					t.Logf("a client got %d %q %v", code, body, err)
				}
			}
		}()
	}
	a.mustPier("config", "set", "-a", "hello", "COLOR=red")
	if _, body, _ := a.get("hello", "/"); !strings.Contains(body, "v2 green color=red") {
		t.Errorf("after config set: %q", body)
	}
	a.mustPier("rollback", "-a", "hello")
	if _, body, _ := a.get("hello", "/"); !strings.Contains(body, "v1 blue color=\n") {
		t.Errorf("after rollback to the standby: %q", body)
	}
	a.mustPier("scale", "-a", "hello", "web=2")
	var insts []api.Instance
	a.pierJSON(&insts, "ps", "-a", "hello")
	if n := countUp(insts, "blue"); n != 2 {
		t.Errorf("after scale web=2 the live slot has %d web instances up: %+v", n, insts)
	}
	if out := a.mustPier("run", "-a", "hello", "--", "echo", "one-off on nomad"); !strings.Contains(out, "one-off on nomad") {
		t.Errorf("pier run printed %q", out)
	}
	// Kill one live instance: Nomad restarts it, the proxy routes around it.
	for _, in := range insts {
		if in.Slot == "blue" && in.Name == "web.2" && in.PID > 0 {
			_ = syscall.Kill(in.PID, syscall.SIGKILL)
		}
	}
	time.Sleep(3 * time.Second)
	// A memory limit restarts the app blue/green with it.
	a.mustPier("scale", "-a", "hello", "web=1:300M")
	var app api.App
	a.pierJSON(&app, "apps", "info", "-a", "hello")
	if mb := nomadTaskMemory(t, nomadAddr, "pier-hello-"+app.LiveSlot, "web"); mb != 300 {
		t.Errorf("after scale web=1:300M the live job's web task has %d MB", mb)
	}
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d of %d requests failed on Nomad", failed.Load(), sent.Load())
	}
	t.Logf("%d requests through the proxy to Nomad allocations", sent.Load())
	if out := a.mustPier("logs", "-a", "hello", "-n", "200"); !strings.Contains(out, "app[web.1]: ") {
		t.Errorf("logs lack the app's lines:\n%s", out)
	}
}

func countUp(insts []api.Instance, slot string) int {
	n := 0
	for _, in := range insts {
		if in.Slot == slot && in.Type == "web" && in.State == api.StateUp {
			n++
		}
	}
	return n
}

// startNomad starts `nomad agent -dev` with raw_exec on free ports and
// returns its address once a client node can run tasks.
func startNomad(t *testing.T, bin string) string {
	t.Helper()
	dir := t.TempDir()
	port := func() string { return portOfAddr(freeAddr(t)) }
	conf := fmt.Sprintf("data_dir = %q\nports {\n  http = %s\n  rpc = %s\n  serf = %s\n}\nplugin \"raw_exec\" {\n  config {\n    enabled = true\n  }\n}\n",
		filepath.Join(dir, "data"), port(), port(), port())
	httpPort := strings.Fields(strings.SplitN(conf, "http = ", 2)[1])[0]
	if err := os.WriteFile(filepath.Join(dir, "agent.hcl"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "nomad.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "-dev", "-bind", "127.0.0.1", "-config", filepath.Join(dir, "agent.hcl"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		logf.Close()
	})
	addr := "http://127.0.0.1:" + httpPort
	waitFor(t, 90*time.Second, "a Nomad client node with raw_exec", func() bool {
		resp, err := http.Get(addr + "/v1/nodes?resources=false")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var nodes []struct {
			Status  string
			Drivers map[string]struct{ Healthy bool }
		}
		if json.NewDecoder(resp.Body).Decode(&nodes) != nil {
			return false
		}
		for _, n := range nodes {
			if n.Status == "ready" && n.Drivers["raw_exec"].Healthy {
				return true
			}
		}
		return false
	})
	return addr
}

// nomadTaskMemory reads the memory of a task group's task from Nomad.
func nomadTaskMemory(t *testing.T, addr, job, group string) int {
	t.Helper()
	resp, err := http.Get(addr + "/v1/job/" + job)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var j struct {
		TaskGroups []struct {
			Name  string
			Tasks []struct{ Resources struct{ MemoryMB int } }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
		t.Fatalf("reading job %s: %v", job, err)
	}
	for _, tg := range j.TaskGroups {
		if tg.Name == group && len(tg.Tasks) > 0 {
			return tg.Tasks[0].Resources.MemoryMB
		}
	}
	return 0
}
