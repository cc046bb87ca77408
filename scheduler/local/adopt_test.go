package local

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
	"github.com/pierhq/pier/scheduler/schedulertest"
)

var adoptFormation = scheduler.Formation{"web": 2, "worker": 1}

// secretValue is a config var that must never be at rest in plain text.
const secretValue = "s3cr3t-xyz-123"

// adoptDeployment is what the re-adoption tests deploy: the hello app
// with a secret config var.
func adoptDeployment(slug schedulertest.Slug) scheduler.Deployment {
	d := schedulertest.Deployment("adopt", "blue", 1, slug, adoptFormation)
	d.Env["SECRET_VALUE"] = secretValue
	return d
}

// TestHelperAgent is the agent that gets killed in TestReadoptAfterKill: it
// deploys, says "ready", and waits to be killed.
func TestHelperAgent(t *testing.T) {
	dir := os.Getenv("PIER_LOCAL_HELPER_DIR")
	if dir == "" {
		t.Skip("runs only as TestReadoptAfterKill's agent")
	}
	s, err := New(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	slug := schedulertest.Slug{Path: os.Getenv("PIER_LOCAL_HELPER_SLUG")}
	if err := s.Deploy(context.Background(), adoptDeployment(slug)); err != nil {
		t.Fatal(err)
	}
	up := schedulertest.WaitUp(t, s, "adopt", "blue", adoptFormation)
	if cmd := os.Getenv("PIER_LOCAL_HELPER_RUN"); cmd != "" {
		// A one-off from the unpacked slug, as a release command runs.
		go s.Run(context.Background(), "adopt", scheduler.OneOff{Command: cmd, Deployment: adoptDeployment(slug)})
		schedulertest.WaitFor(t, "the one-off to be recorded", func() (bool, string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			for pid := range s.oneOffs {
				fmt.Printf("one-off %d\n", pid)
				return true, ""
			}
			return false, ""
		})
	}
	b, _ := json.Marshal(up)
	fmt.Printf("ready %s\n", b)
	time.Sleep(time.Minute)
}

// TestReadoptAfterKill kills -9 the agent that started the processes; a new
// scheduler on the same Dir adopts them: same pids and addresses, logs go
// on, and a crash is still restarted.
func TestReadoptAfterKill(t *testing.T) {
	dir := t.TempDir()
	ready, seen := runKilledHelperAgent(t, dir)
	var before map[string]scheduler.Instance
	if err := json.Unmarshal([]byte(ready), &before); err != nil {
		t.Fatalf("the helper agent did not deploy: %v\n%s", err, strings.Join(seen, "\n"))
	}

	readState(t, dir)
	var changes chanRecorder = make(chan string, 100)
	s := newTestScheduler(t, dir, changes.record)
	t.Cleanup(func() { s.Stop(context.Background(), "adopt", "") })
	checkAdopted(t, s, before, changes)
}

// runKilledHelperAgent runs TestHelperAgent on dir with the extra
// environment, kills it with SIGKILL once it is ready, and returns what
// followed "ready " and the lines it printed before.
func runKilledHelperAgent(t *testing.T, dir string, env ...string) (ready string, seen []string) {
	t.Helper()
	slug := schedulertest.HelloSlug(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperAgent$", "-test.v")
	cmd.Env = append(os.Environ(), "PIER_LOCAL_HELPER_DIR="+dir, "PIER_LOCAL_HELPER_SLUG="+slug.Path)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "ready ") {
		seen = append(seen, sc.Text())
	}
	cmd.Process.Kill()
	cmd.Wait()
	return strings.TrimPrefix(sc.Text(), "ready "), seen
}

type chanRecorder chan string

func (c chanRecorder) record(app string) {
	select {
	case c <- app:
	default:
	}
}

// checkAdopted checks a scheduler that adopted the "adopt" app.
func checkAdopted(t *testing.T, s *Scheduler, before map[string]scheduler.Instance, changes chanRecorder) {
	t.Helper()
	if len(before) != 3 {
		t.Fatalf("before adoption: %v", before)
	}
	up := schedulertest.WaitUp(t, s, "adopt", "blue", adoptFormation)
	for name, in := range up {
		if b := before[name]; b.PID != in.PID || b.Addr != in.Addr || in.Restarts != 0 {
			t.Errorf("%s: was %+v, after adoption %+v: want the same process", name, b, in)
		}
	}
	web := up["web.1"]
	if _, err := schedulertest.Get(web.Addr, "/log?m=adopted"); err != nil {
		t.Fatalf("web.1 after adoption: %v", err)
	}
	schedulertest.WaitFor(t, "logs of the adopted web.1", func() (bool, string) {
		text := logText(t, s, "adopt", scheduler.LogOptions{Lines: 50, Process: "web"})
		return strings.Contains(text, "app[web.1]: hello says adopted"), text
	})
	// The adopted process is not our child: its crash is still seen, and
	// it restarts with the config vars of the sealed state.
	schedulertest.Get(web.Addr, "/crash")
	var restarted scheduler.Instance
	schedulertest.WaitFor(t, "the adopted web.1 to be restarted", func() (bool, string) {
		now := schedulertest.Slot(t, s, "adopt", "blue")
		for _, in := range now {
			if in.Name() == "web.1" && in.PID != web.PID && in.State == StateUp && in.Restarts == 1 {
				restarted = in
				return true, ""
			}
		}
		return false, fmt.Sprint(now)
	})
	env := schedulertest.Env(t, restarted.Addr)
	if env["SECRET_VALUE"] != secretValue || env["GREETING"] != "hi" || env["DYNO"] != "web.1" {
		t.Errorf("web.1 restarted after adoption with SECRET_VALUE=%q GREETING=%q DYNO=%q, want the release's config vars", env["SECRET_VALUE"], env["GREETING"], env["DYNO"])
	}
	select {
	case app := <-changes:
		if app != "adopt" {
			t.Errorf("OnChange(%q), want adopt", app)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("OnChange was not called for the crash")
	}
	if got := snapshot(t, s)["web.2"]; got.PID != up["web.2"].PID {
		t.Errorf("web.2 was restarted by web.1's crash")
	}
}

func snapshot(t *testing.T, s *Scheduler) map[string]scheduler.Instance {
	out := map[string]scheduler.Instance{}
	for _, in := range schedulertest.Slot(t, s, "adopt", "blue") {
		out[in.Name()] = in
	}
	return out
}

func logText(t *testing.T, s *Scheduler, app string, o scheduler.LogOptions) string {
	t.Helper()
	rc, err := s.Logs(context.Background(), app, o)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var b strings.Builder
	bufio.NewReader(rc).WriteTo(&b)
	return b.String()
}

// TestReadoptAfterClose: Close, then New on the same Dir and key in this
// process. A wrong key is refused and leaves the state as it was.
func TestReadoptAfterClose(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	dir := t.TempDir()
	key := bytes.Repeat([]byte{7}, 32)
	s1, err := New(Options{Dir: dir, StopTimeout: 2 * time.Second, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	if err := s1.Deploy(context.Background(), adoptDeployment(slug)); err != nil {
		s1.Close()
		t.Fatal(err)
	}
	before := schedulertest.WaitUp(t, s1, "adopt", "blue", adoptFormation)
	if _, err := New(Options{Dir: dir, Key: key}); err == nil || !strings.Contains(err.Error(), "another pier agent") {
		t.Errorf("a second scheduler on the same Dir: %v, want it refused", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	sealed := readState(t, dir)
	for _, k := range [][]byte{bytes.Repeat([]byte{8}, 32), nil} { // nil: Dir/state.key, a new key
		if s2, err := New(Options{Dir: dir, Key: k}); err == nil {
			s2.Close()
			t.Fatalf("New with another key (%v) succeeded, want it refused", k)
		} else if !strings.Contains(err.Error(), "sealed with another one") {
			t.Errorf("New with another key: %v, want it to say so", err)
		}
	}
	if now := readState(t, dir); !bytes.Equal(now, sealed) {
		t.Errorf("a refused key changed state.json")
	}
	var changes chanRecorder = make(chan string, 100)
	s, err := New(Options{Dir: dir, StopTimeout: 2 * time.Second, OnChange: changes.record, Logf: t.Logf, Key: key})
	if err != nil {
		t.Fatalf("New with the same key: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	t.Cleanup(func() { s.Stop(context.Background(), "adopt", "") })
	checkAdopted(t, s, before, changes)
}

// readState returns the bytes of Dir/state.json, checking that they do not
// hold the secret config var.
func readState(t *testing.T, dir string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(secretValue)) || bytes.Contains(b, []byte("SECRET_VALUE")) {
		t.Errorf("state.json holds the config vars in plain text:\n%s", b)
	}
	return b
}

// TestOneOffOfAKilledAgentIsEnded kills -9 an agent while a one-off of its
// runs: nobody waits for that one-off any more, so the scheduler that
// adopts the app kills it and removes the slug unpacked for it, and leaves
// the app's instances running.
func TestOneOffOfAKilledAgentIsEnded(t *testing.T) {
	dir := t.TempDir()
	_, seen := runKilledHelperAgent(t, dir, "PIER_LOCAL_HELPER_RUN=sleep 120")
	oneOffPID := 0
	for _, line := range seen {
		fmt.Sscanf(line, "one-off %d", &oneOffPID)
	}
	if oneOffPID == 0 {
		t.Fatalf("the helper agent started no one-off:\n%s", strings.Join(seen, "\n"))
	}
	runDirs, _ := filepath.Glob(filepath.Join(dir, "apps", "adopt", "run-*"))
	if len(runDirs) != 1 || !alive(oneOffPID) {
		t.Fatalf("before adoption: run dirs %v, one-off alive %v", runDirs, alive(oneOffPID))
	}

	s := newTestScheduler(t, dir, nil)
	t.Cleanup(func() { s.Stop(context.Background(), "adopt", "") })
	schedulertest.WaitFor(t, "the orphaned one-off to end", func() (bool, string) {
		return !alive(oneOffPID), fmt.Sprintf("pid %d alive", oneOffPID)
	})
	if _, err := os.Stat(runDirs[0]); !os.IsNotExist(err) {
		t.Errorf("the slug unpacked for the one-off is still there: %v", err)
	}
	s.mu.Lock()
	left := len(s.oneOffs)
	s.mu.Unlock()
	if left != 0 {
		t.Errorf("%d one-offs still recorded", left)
	}
	if text := logText(t, s, "adopt", scheduler.LogOptions{Lines: 50}); !strings.Contains(text, "Process killed: the agent that ran it stopped") {
		t.Errorf("no log line for the killed one-off:\n%s", text)
	}
	schedulertest.WaitUp(t, s, "adopt", "blue", adoptFormation)
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z'
}
