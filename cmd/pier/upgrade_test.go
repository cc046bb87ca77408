package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestUpgrade (a short name: the build's plugin sockets live under the
// test's temp dir, and a unix socket's path is short): under continuous load
// through the proxy, `pier upgrade` with a binary that crashes at start,
// then with one that never gets ready, goes back to the binary before by
// itself; bad input changes nothing; a good binary takes over. No request
// fails, and the app is never restarted.
func TestUpgrade(t *testing.T) {
	needE2E(t)
	work := reachableTempDir(t)
	bin := filepath.Join(work, "pier")
	copyFile(t, pierBin, bin, 0o755)
	original, _ := os.ReadFile(bin)

	a := startAgent(t, agentOpts{bin: bin})
	const app = "handover"
	a.mustPier("apps", "create", app)
	repo := newPrebuiltRepo(t, "hello")
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	live := answer{"hello", "v1", ""}
	good := buildPier(t, work, "v9.9.9-upgrade")
	crash := buildBroken(t, work, "crash", "amd64")
	hang := buildBroken(t, work, "hang", "amd64")
	before := psOf(t, a, app)
	tr := startTraffic(t, a, app, 4, 1, live)
	backups := t.TempDir()
	upgrade := func(binary, timeout string) cliResult {
		return a.pier("upgrade", "--binary", binary, "--data-dir", a.dataDir, "--timeout", timeout, "--backup-to", backups)
	}
	unchanged := func(t *testing.T, pid int) {
		t.Helper()
		if now := a.pid(); now != pid {
			t.Errorf("the agent's pid is %d, want %d still", now, pid)
		}
		if b, _ := os.ReadFile(bin); !bytes.Equal(b, original) {
			t.Errorf("%s is not the binary it was", bin)
		}
		if code, body := readyz(a); code != 200 {
			t.Errorf("/readyz: %d %s", code, body)
		}
		if out := a.mustPier("version"); !strings.Contains(out, "agent:  pier dev") {
			t.Errorf("pier version:\n%s", out)
		}
	}

	t.Run("a binary that crashes at start", func(t *testing.T) {
		pid := a.pid()
		start := time.Now()
		r := upgrade(crash, "60s")
		took := time.Since(start)
		t.Logf("rolled back in %s", took.Round(time.Millisecond))
		if took > 30*time.Second {
			t.Errorf("the rollback took %s: it did not see the failed handover before --timeout", took)
		}
		if r.code == 0 || !strings.Contains(r.stderr, "the upgrade to pier v0.0.0-broken failed") || !strings.Contains(r.stderr, "goes on with pier dev") || !strings.Contains(r.stderr, "could not start the new agent") {
			t.Errorf("pier upgrade with a crashing binary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		unchanged(t, pid)
		if ents, _ := os.ReadDir(backups); len(ents) != 1 || !strings.HasPrefix(ents[0].Name(), "pier-backup-") {
			t.Errorf("the backup taken first: %v", ents)
		}
		if b, _ := os.ReadFile(bin + ".previous"); !bytes.Equal(b, original) {
			t.Errorf("%s.previous is not the binary before", bin)
		}
	})

	t.Run("a binary that never gets ready", func(t *testing.T) {
		pid := a.pid()
		r := upgrade(hang, "10s")
		if r.code == 0 || !strings.Contains(r.stderr, "did not become ready in 10s and was stopped") || !strings.Contains(r.stderr, "goes on with pier dev") {
			t.Errorf("pier upgrade with a binary that hangs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		unchanged(t, pid)
		if child := childRunning(pid, hang); child {
			t.Errorf("the hanging agent still runs")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		pid := a.pid()
		text := filepath.Join(work, "notes.sh")
		if err := os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		noexec := filepath.Join(work, "pier-noexec")
		copyFile(t, good, noexec, 0o644)
		other := buildBroken(t, work, "crash", "arm64")
		for _, c := range []struct{ binary, want string }{
			{filepath.Join(work, "missing"), "no such file"},
			{work, "not a regular file"},
			{noexec, "is not executable"},
			{text, "is not a Linux binary"},
			{other, "is built for EM_AARCH64"},
			{requireBinary(t, "true"), "did not print pier's version"},
			{bin + ".previous", "give --previous another path"},
		} {
			backupsBefore, _ := os.ReadDir(backups)
			r := upgrade(c.binary, "10s")
			if r.code == 0 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("pier upgrade --binary %s: exit %d, want %q:\n%s", c.binary, r.code, c.want, r.stderr)
			}
			if after, _ := os.ReadDir(backups); len(after) != len(backupsBefore) {
				t.Errorf("a refused upgrade took a backup")
			}
		}
		unchanged(t, pid)
	})

	t.Run("a good binary", func(t *testing.T) {
		pid := a.pid()
		r := upgrade(good, "60s")
		if r.code != 0 || !strings.Contains(r.stdout, "upgraded: pier dev -> v9.9.9-upgrade") {
			t.Fatalf("pier upgrade with a good binary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		waitExited(t, a)
		now := a.pid()
		if now == pid || now == 0 {
			t.Errorf("the pid file says %d after the upgrade from %d", now, pid)
		}
		if code, body := readyz(a); code != 200 {
			t.Errorf("/readyz after the upgrade: %d %s", code, body)
		}
		if out := a.mustPier("version"); !strings.Contains(out, "agent:  pier v9.9.9-upgrade") {
			t.Errorf("pier version after the upgrade:\n%s", out)
		}
		if b, _ := os.ReadFile(bin + ".previous"); !bytes.Equal(b, original) {
			t.Errorf("%s.previous is not the binary before", bin)
		}
	})

	t.Run("in place, as the package upgrades", func(t *testing.T) {
		// dpkg renames the new binary over the old one after preinst kept
		// a copy; postinst then runs pier upgrade with both.
		kept := filepath.Join(work, "pier.kept")
		copyFile(t, bin, kept, 0o755)
		pid := a.pid()
		renameOver(t, crash, bin)
		r := a.pier("upgrade", "--binary", bin, "--previous", kept, "--data-dir", a.dataDir, "--timeout", "60s", "--no-backup")
		if r.code == 0 || !strings.Contains(r.stderr, "goes on with pier v9.9.9-upgrade") {
			t.Errorf("pier upgrade in place with a crashing binary: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if b, _ := os.ReadFile(bin); !bytes.Equal(b, mustRead(t, kept)) || a.pid() != pid {
			t.Errorf("after the rollback in place the binary is not the kept one, or the pid moved from %d to %d", pid, a.pid())
		}
		renameOver(t, pierBin, bin)
		r = a.pier("upgrade", "--binary", bin, "--previous", kept, "--data-dir", a.dataDir, "--timeout", "60s", "--no-backup")
		if r.code != 0 || !strings.Contains(r.stdout, "upgraded: pier v9.9.9-upgrade -> dev") {
			t.Fatalf("pier upgrade in place: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		waitFor(t, time.Minute, "the agent before to exit", func() bool { return !alive(pid) })
		a.handedOver = a.pid()
		if out := a.mustPier("version"); !strings.Contains(out, "agent:  pier dev") {
			t.Errorf("pier version after the upgrade in place:\n%s", out)
		}
		r = a.pier("upgrade", "--binary", bin, "--data-dir", a.dataDir, "--no-backup")
		if r.code == 0 || !strings.Contains(r.stderr, "give --previous FILE") {
			t.Errorf("pier upgrade in place without --previous: exit %d\n%s", r.code, r.stderr)
		}
	})

	time.Sleep(time.Second) // requests after the last handover
	tr.stop()
	n := tr.check()
	t.Logf("%d requests through the proxy during the upgrades, none failed", n)
	if n < 100 {
		t.Errorf("only %d requests were made", n)
	}
	if after := psOf(t, a, app); pidsOf(after, "blue")+pidsOf(after, "green") != pidsOf(before, "blue")+pidsOf(before, "green") {
		t.Errorf("the app was restarted: %s, before %s", slotSummary(after), slotSummary(before))
	}
}

// buildPier builds pier with version v into dir.
func buildPier(t *testing.T, dir, v string) string {
	t.Helper()
	out := filepath.Join(dir, "pier-"+v)
	cmd := exec.Command("go", "build", "-ldflags", "-X github.com/pierhq/pier/cli.version="+v, "-o", out, ".")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building pier %s: %v\n%s", v, err, b)
	}
	return out
}

// buildBroken builds testdata/brokenpier for GOARCH arch, failing as mode.
func buildBroken(t *testing.T, dir, mode, arch string) string {
	t.Helper()
	out := filepath.Join(dir, "pier-"+mode+"-"+arch)
	cmd := exec.Command("go", "build", "-ldflags", "-X main.mode="+mode+" -X main.version=v0.0.0-broken", "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "brokenpier")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH="+arch, "GOFLAGS=", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building brokenpier: %v\n%s", err, b)
	}
	return out
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, mode); err != nil {
		t.Fatal(err)
	}
}

// readyz asks the agent's /readyz.
func readyz(a *agentProc) (int, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.apiAddr+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitExited waits until the agent the test started has exited after
// handing over, and follows the agent that took over.
func waitExited(t *testing.T, a *agentProc) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = a.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the agent before the upgrade did not exit:\n%s", a.logs())
	}
	a.cmd = nil
	a.handedOver = a.pid()
}

// childRunning reports whether a child of pid runs the file binary.
func childRunning(pid int, binary string) bool {
	want, err := os.Stat(binary)
	if err != nil {
		return false
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(st, ')')
		if f := strings.Fields(string(st[i+1:])); len(f) < 2 || f[1] != itoa(pid) || f[0] == "Z" {
			continue
		}
		if exe, err := os.Stat("/proc/" + e.Name() + "/exe"); err == nil && os.SameFile(exe, want) {
			return true
		}
	}
	return false
}

// renameOver puts a copy of src at dst in one rename, as dpkg does.
func renameOver(t *testing.T, src, dst string) {
	t.Helper()
	tmp := dst + ".dpkg-new"
	copyFile(t, src, tmp, 0o755)
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
