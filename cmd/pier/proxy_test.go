package main

import (
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestProxyFollowsTheAgent runs the edge in a process of its own: `pier
// proxy` follows the agent's routes over the API, checks the instances
// itself, and serves the app through a deploy without a failed request;
// pier.<domain> reaches the agent's API through it, and it goes on serving
// while the agent is down.
func TestProxyFollowsTheAgent(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	const app = "bluegreen"
	a.mustPier("apps", "create", app)
	t.Cleanup(func() { a.pier("apps", "destroy", "-a", app, "--confirm", app) })
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")

	edge := *a // the same agent, reached through the proxy below
	edge.httpAddr = startProxy(t, a)
	v1, v2 := answer{"hello", "v1", ""}, answer{"howdy", "v2", ""}
	waitFor(t, 15*time.Second, "pier proxy serves v1", func() bool {
		code, body, _, err := edge.tryGet(app+".localhost", "/")
		got, _ := parseAnswer(app, body)
		return err == nil && code == 200 && got == v1
	})
	if code, body, _, err := edge.tryGet("pier.localhost", "/healthz"); err != nil || code != 200 || body != "ok\n" {
		t.Errorf("the API through pier proxy: %d %q %v", code, body, err)
	}
	if code, _, _, err := edge.tryGet("nope.localhost", "/"); err != nil || code != http.StatusNotFound {
		t.Errorf("an unknown host through pier proxy: %d %v, want 404", code, err)
	}
	req, _ := http.NewRequest("GET", "http://"+a.apiAddr+"/v1/routes?after=soon", nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /v1/routes?after=soon: %v %v, want 400", resp, err)
	} else {
		resp.Body.Close()
	}

	tr := startTraffic(t, &edge, app, 4, 1, v1)
	repo.rebuild("howdy")
	tr.during("deploy v2, seen through pier proxy", v2, func() {
		mustPush(t, repo, "Released v2")
		waitFor(t, 15*time.Second, "pier proxy serves v2", func() bool {
			_, body, _, _ := edge.tryGet(app+".localhost", "/")
			got, _ := parseAnswer(app, body)
			return got == v2
		})
	})
	time.Sleep(time.Second)
	tr.stop()
	if n := tr.check(); n < 20 {
		t.Errorf("the clients made only %d requests", n)
	}

	// The agent stops while pier proxy watches its routes: the watch does
	// not hold the agent's shutdown, and the proxy goes on serving the
	// routes it has (the app keeps running without the agent).
	start := time.Now()
	a.stop()
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the agent took %s to stop while pier proxy watched its routes", d.Round(time.Second))
	}
	code, body, _, err := edge.tryGet(app+".localhost", "/")
	if got, _ := parseAnswer(app, body); err != nil || code != 200 || got != v2 {
		t.Errorf("pier proxy without its agent: %d %q %v, want v2 still served", code, body, err)
	}
}

// startProxy starts `pier proxy` following a's API and returns its address.
func startProxy(t *testing.T, a *agentProc) string {
	t.Helper()
	addr := freeAddr(t)
	var log strings.Builder
	cmd := exec.Command(pierBin, "proxy", "--api", "http://"+a.apiAddr, "--token", a.token, "--http-addr", addr)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(35 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("pier proxy's log:\n%s", log.String())
		}
	})
	return addr
}
