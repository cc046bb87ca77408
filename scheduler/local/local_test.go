package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
	"github.com/pierhq/pier/scheduler/schedulertest"
)

func newTestScheduler(t *testing.T, dir string, onChange func(string)) *Scheduler {
	t.Helper()
	s, err := New(Options{Dir: dir, StopTimeout: 2 * time.Second, OnChange: onChange, Logf: t.Logf})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestScheduler(t *testing.T) {
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
		return newTestScheduler(t, t.TempDir(), nil)
	})
}

// TestStopKillsChildren: a process's children end with it, and Stop of the
// whole app removes its unpacked slugs.
func TestStopKillsChildren(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	dir := t.TempDir()
	s := newTestScheduler(t, dir, nil)
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	d := schedulertest.Deployment("kids", "blue", 1, slug, scheduler.Formation{"spawner": 1})
	d.Processes["spawner"] = `sleep 300 & echo $! > "$CHILD_PID_FILE"; exec bin/hello worker`
	d.Env["CHILD_PID_FILE"] = pidFile
	if err := s.Deploy(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	schedulertest.WaitUp(t, s, "kids", "blue", scheduler.Formation{"spawner": 1})
	var child int
	schedulertest.WaitFor(t, "the child's pid", func() (bool, string) {
		b, _ := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return child > 0, string(b)
	})
	if !running(child) {
		t.Fatalf("the child %d does not run", child)
	}
	if err := s.Stop(context.Background(), "kids", ""); err != nil {
		t.Fatal(err)
	}
	if running(child) {
		t.Errorf("the child %d of the stopped process still runs", child)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "apps", "kids", "blue-v*")); len(m) != 0 {
		t.Errorf("unpacked slugs left after Stop: %v", m)
	}
	if err := s.Stop(context.Background(), "nothing", ""); !errors.Is(err, scheduler.ErrNotFound) {
		t.Errorf("Stop of an app never deployed: %v, want ErrNotFound", err)
	}
}

// running reports whether pid runs (a zombie has ended).
func running(pid int) bool {
	st, err := readProcStat(pid)
	return err == nil && st.State != 'Z'
}

// TestAgentSecretsStayWithTheAgent: the agent's environment does not reach
// apps, except the allow-listed basics.
func TestAgentSecretsStayWithTheAgent(t *testing.T) {
	for _, k := range []string{"PIER_TOKEN", "PIER_ADMIN_TOKEN", "PIER_SECRET_KEY", "NOMAD_TOKEN", "AWS_SECRET_ACCESS_KEY"} {
		t.Setenv(k, "agent-secret-value")
	}
	t.Setenv("LANG", "C.UTF-8")
	slug := schedulertest.HelloSlug(t)
	s := newTestScheduler(t, t.TempDir(), nil)
	d := schedulertest.Deployment("secrets", "blue", 1, slug, scheduler.Formation{"web": 1})
	t.Cleanup(func() { s.Stop(context.Background(), "secrets", "") })
	if err := s.Deploy(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	web := schedulertest.WaitUp(t, s, "secrets", "blue", scheduler.Formation{"web": 1})["web.1"]
	env := schedulertest.Env(t, web.Addr)
	for k, v := range env {
		if v == "agent-secret-value" {
			t.Errorf("the agent's %s reached the app", k)
		}
	}
	if env["LANG"] != "C.UTF-8" || env["HOME"] != env["_CWD"] {
		t.Errorf("LANG=%q HOME=%q cwd=%q: want LANG passed and HOME the slug", env["LANG"], env["HOME"], env["_CWD"])
	}
	var out strings.Builder
	code, err := s.Run(context.Background(), "secrets", scheduler.OneOff{Deployment: d, Command: "env", Output: &out})
	if err != nil || code != 0 || strings.Contains(out.String(), "agent-secret-value") {
		t.Errorf("one-off env: code %d, %v, secrets passed: %v", code, err, strings.Contains(out.String(), "agent-secret-value"))
	}
}

// TestRestartCallsOnChangeBeforeStoppingOld: the replacement is up and
// OnChange has run while the old instance still answers.
func TestRestartCallsOnChangeBeforeStoppingOld(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	var s *Scheduler
	var mu sync.Mutex
	var seen []string // "web.1 old:ok new:ok" per OnChange during Restart
	var restarting atomic.Bool
	var old scheduler.Instance
	s = newTestScheduler(t, t.TempDir(), func(app string) {
		if !restarting.Load() {
			return
		}
		_, oldErr := schedulertest.Get(old.Addr, "/")
		ins, _ := s.Instances(context.Background(), app)
		mu.Lock()
		seen = append(seen, fmt.Sprintf("instances=%d old answers=%v", len(ins), oldErr == nil))
		mu.Unlock()
	})
	d := schedulertest.Deployment("rolling", "blue", 1, slug, scheduler.Formation{"web": 1})
	t.Cleanup(func() { s.Stop(context.Background(), "rolling", "") })
	if err := s.Deploy(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	old = schedulertest.WaitUp(t, s, "rolling", "blue", scheduler.Formation{"web": 1})["web.1"]
	restarting.Store(true)
	if err := s.Restart(context.Background(), "rolling", "blue"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) == 0 || seen[0] != "instances=2 old answers=true" {
		t.Errorf("OnChange during Restart saw %q, want first both instances with the old one answering", seen)
	}
}

// TestStateFileIsPrivate: the state holds config vars.
func TestStateFileIsPrivate(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	dir := t.TempDir()
	s := newTestScheduler(t, dir, nil)
	d := schedulertest.Deployment("private", "blue", 1, slug, scheduler.Formation{"worker": 1})
	t.Cleanup(func() { s.Stop(context.Background(), "private", "") })
	if err := s.Deploy(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("state.json has mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestStopRemovesAppFiles: stopping a slot keeps the app's logs; stopping
// the app removes all it had here, logs included, for good.
func TestStopRemovesAppFiles(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	dir := t.TempDir()
	s := newTestScheduler(t, dir, nil)
	worker := scheduler.Formation{"worker": 1}
	for _, slot := range []string{"blue", "green"} {
		if err := s.Deploy(context.Background(), schedulertest.Deployment("gone", slot, 1, slug, worker)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Stop(context.Background(), "gone", "") })
	schedulertest.WaitUp(t, s, "gone", "green", worker)
	logs := func() string {
		rc, err := s.Logs(context.Background(), "gone", scheduler.LogOptions{Lines: 1000})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		var b strings.Builder
		if _, err := io.Copy(&b, rc); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	schedulertest.WaitFor(t, "worker lines", func() (bool, string) {
		text := logs()
		return strings.Contains(text, "app[worker.1]: worker tick"), text
	})
	if err := s.Stop(context.Background(), "gone", "green"); err != nil {
		t.Fatal(err)
	}
	if text := logs(); !strings.Contains(text, "worker tick") {
		t.Errorf("stopping one slot lost the app's logs:\n%s", text)
	}
	if err := s.Stop(context.Background(), "gone", ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * superviseEvery) // nothing comes back
	if ents, err := os.ReadDir(filepath.Join(dir, "apps")); err != nil || len(ents) != 0 {
		t.Errorf("after Stop of the app, apps/ holds %v (%v), want nothing", ents, err)
	}
	if text := logs(); text != "" {
		t.Errorf("after Stop of the app, its logs are still there:\n%s", text)
	}
	if err := s.Stop(context.Background(), "gone", ""); !errors.Is(err, scheduler.ErrNotFound) {
		t.Errorf("Stop of a stopped app: %v, want ErrNotFound", err)
	}
}

// TestMemoryLimit: an instance that goes over its type's memory limit is
// killed, says why in the app's log and is started again; one within its
// limit, and a type without one, keep running.
func TestMemoryLimit(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	s := newTestScheduler(t, t.TempDir(), nil)
	d := schedulertest.Deployment("hog", "blue", 1, slug, scheduler.Formation{"web": 1})
	d.MemoryMB = map[string]int{"web": 64}
	t.Cleanup(func() { s.Stop(context.Background(), "hog", "") })
	t.Cleanup(func() { s.Stop(context.Background(), "free", "") })
	if err := s.Deploy(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	web := schedulertest.WaitUp(t, s, "hog", "blue", scheduler.Formation{"web": 1})["web.1"]
	free := schedulertest.Deployment("free", "blue", 1, slug, scheduler.Formation{"web": 1})
	if err := s.Deploy(context.Background(), free); err != nil {
		t.Fatal(err)
	}
	freeWeb := schedulertest.WaitUp(t, s, "free", "blue", scheduler.Formation{"web": 1})["web.1"]

	// Within the limit, and no limit at all: both keep running.
	if _, err := schedulertest.Get(web.Addr, "/grow?mb=16"); err != nil {
		t.Fatal(err)
	}
	if _, err := schedulertest.Get(freeWeb.Addr, "/grow?mb=100"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * memoryEvery)
	for app, was := range map[string]scheduler.Instance{"hog": web, "free": freeWeb} {
		now := schedulertest.Slot(t, s, app, "blue")
		if len(now) != 1 || now[0].PID != was.PID || now[0].Restarts != 0 {
			t.Fatalf("%s: %v, want web.1 still pid %d; logs:\n%s", app, now, was.PID, logText(t, s, app, scheduler.LogOptions{Lines: 20}))
		}
	}
	schedulertest.WaitFor(t, "the CPU time of free's web.1, which grew by 100M", func() (bool, string) {
		now := schedulertest.Slot(t, s, "free", "blue")[0]
		return now.CPU > 0, fmt.Sprintf("%v", now.CPU)
	})
	if now := schedulertest.Slot(t, s, "hog", "blue")[0]; now.Memory < 16<<20 || now.Memory > 64<<20 || now.MemoryLimit != 64<<20 || now.OOMKills != 0 {
		t.Errorf("hog's web.1 after growing by 16M: memory %d of %d, %d OOM kills", now.Memory, now.MemoryLimit, now.OOMKills)
	}

	// Over it: killed, logged, started again.
	schedulertest.Get(web.Addr, "/grow?mb=100") // may see the process die
	schedulertest.WaitFor(t, "web.1 over its memory limit to be started again", func() (bool, string) {
		now := schedulertest.Slot(t, s, "hog", "blue")
		if len(now) == 1 && now[0].PID != web.PID && now[0].Restarts == 1 && now[0].State == StateUp && now[0].OOMKills == 1 {
			return true, ""
		}
		return false, fmt.Sprintf("%v", now)
	})
	text := logText(t, s, "hog", scheduler.LogOptions{Lines: 50})
	for _, want := range []string{
		"web.1 Error R15 (Memory quota exceeded): using ",
		" of its 64M; stopping the process with SIGKILL",
		"web.1 Process exited with status 137",
		"web.1 State changed from crashed to starting",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the log lacks %q:\n%s", want, text)
		}
	}
	if now := schedulertest.Slot(t, s, "free", "blue"); len(now) != 1 || now[0].PID != freeWeb.PID {
		t.Errorf("the app without a limit was touched: %v", now)
	}
}

// TestSpawnFailureBacksOff: a process the system refuses to start (its
// environment is over what execve takes) fails Deploy with the reason, is
// logged as a crash, and is tried again on the crash backoff (1s, 2s, 4s),
// not on every supervision round.
func TestSpawnFailureBacksOff(t *testing.T) {
	slug := schedulertest.HelloSlug(t)
	s := newTestScheduler(t, t.TempDir(), nil)
	d := schedulertest.Deployment("toobig", "blue", 1, slug, scheduler.Formation{"web": 1})
	d.Env["BIG"] = strings.Repeat("x", 200<<10)
	t.Cleanup(func() { s.Stop(context.Background(), "toobig", "") })
	start := time.Now()
	err := s.Deploy(context.Background(), d)
	if err == nil || !strings.Contains(err.Error(), "environment is too large") || !strings.Contains(err.Error(), "BIG") {
		t.Fatalf("Deploy with a 200 KB config var: %v, want an error that names the environment and BIG", err)
	}
	if strings.Contains(err.Error(), "xxxx") {
		t.Errorf("the error holds the value: %.200s", err)
	}
	time.Sleep(6500*time.Millisecond - time.Since(start))
	text := logText(t, s, "toobig", scheduler.LogOptions{Lines: 200})
	// Tries at 0s, ~1s and ~3s; the next waits 4s more.
	if n := strings.Count(text, "web.1 Starting process with command"); n < 2 || n > 3 {
		t.Errorf("web.1 was tried %d times in 6.5s, want 2 or 3 (backoff 1s, 2s, 4s):\n%s", n, text)
	}
	for _, want := range []string{
		"web.1 Error starting process: the release's environment is too large for the system to start a process",
		"web.1 State changed from starting to crashed",
		"web.1 State changed from crashed to starting",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the log lacks %q:\n%s", want, text)
		}
	}
	if ins := schedulertest.Slot(t, s, "toobig", "blue"); len(ins) != 1 || ins[0].State != StateCrashed || ins[0].Restarts < 1 {
		t.Errorf("instances %v, want web.1 crashed and restarted at least once", ins)
	}
	code, err := s.Run(context.Background(), "toobig", scheduler.OneOff{Deployment: d, Command: "true"})
	if err == nil || code != -1 || !strings.Contains(err.Error(), "environment is too large") {
		t.Errorf("a one-off with the same environment: exit %d, %v; want an error that names the environment", code, err)
	}
}
