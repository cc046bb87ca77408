package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// asRoot skips tests that switch users where this process cannot.
func asRoot(t *testing.T) {
	t.Helper()
	if err := CanSwitch(); err != nil {
		t.Skipf("cannot switch users here: %v", err)
	}
}

func TestForApp(t *testing.T) {
	run, build, err := ForApp(3)
	if err != nil || run != (Identity{70006, 70006}) || build != (Identity{70007, 70007}) {
		t.Fatalf("ForApp(3) = %v %v %v", run, build, err)
	}
	if IsBuild(run.UID) || !IsBuild(build.UID) {
		t.Fatal("IsBuild mixes up run and build users")
	}
	if _, _, err := ForApp((LastUID-FirstUID)/2 + 1); err == nil {
		t.Fatal("an app number past the range was given ids")
	}
}

var bombRuns atomic.Int32

// TestKillUserEndsAForkBomb: a fork bomb under a process limit, some of it
// in sessions of its own, is ended whole.
func TestKillUserEndsAForkBomb(t *testing.T) {
	asRoot(t)
	// A user of its own for each run: the kernel counts the zombies of a
	// run before against the process limit until init reaps them.
	uid := LastUID - 1 - 2*int(bombRuns.Add(1))
	id := Identity{uid, uid}
	var rl, saved unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NPROC, &saved); err != nil {
		t.Fatal(err)
	}
	rl = unix.Rlimit{Cur: 64, Max: saved.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NPROC, &rl); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", `b() { setsid sh -c 'sleep 600' & b & b; }; b`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	id.Apply(cmd.SysProcAttr)
	err := cmd.Start()
	_ = unix.Setrlimit(unix.RLIMIT_NPROC, &saved)
	if err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() { KillUser(id) })
	// Shells whose forks fail exit, so the count rises and falls.
	peak := 0
	for deadline := time.Now().Add(5 * time.Second); peak < 8 && time.Now().Before(deadline); {
		peak = max(peak, len(Processes(id)))
		time.Sleep(20 * time.Millisecond)
	}
	if peak < 8 {
		t.Fatalf("the fork bomb made only %d processes", peak)
	}
	if left := KillUser(id); left != 0 {
		t.Fatalf("%d processes of uid %d outlived KillUser", left, id.UID)
	}
	if p := Processes(id); len(p) != 0 {
		t.Fatalf("processes of uid %d still run: %v", id.UID, p)
	}
}

func TestReachable(t *testing.T) {
	dir := t.TempDir()
	sub := dir + "/a/b"
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := Reachable(sub); err == nil {
		t.Fatalf("%s is behind a 0700 directory, yet called reachable", sub)
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	// The temporary directory's own parents decide the rest.
	if err := Reachable(os.TempDir()); err == nil {
		if err := Reachable(sub); err != nil {
			t.Fatalf("Reachable(%s): %v", sub, err)
		}
	}
}
