package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// asRoot skips tests that switch users where this process cannot.
func asRoot(t *testing.T) {
	t.Helper()
	if err := CanSwitch(); err != nil {
		t.Skipf("cannot switch users here: %v", err)
	}
}

func TestForApp(t *testing.T) {
	run, build, err := DefaultRange.ForApp(3)
	if err != nil || run != (Identity{70006, 70006}) || build != (Identity{70007, 70007}) {
		t.Fatalf("ForApp(3) = %v %v %v", run, build, err)
	}
	if _, _, err := DefaultRange.ForApp((DefaultRange.Last-DefaultRange.First)/2 + 1); err == nil {
		t.Fatal("an app number past the range was given ids")
	}
	small := Range{80000, 80003}
	if _, b, err := small.ForApp(1); err != nil || b.UID != 80003 {
		t.Fatalf("the last app of %s = %v %v", small, b, err)
	}
	if _, _, err := small.ForApp(2); err == nil {
		t.Fatalf("%s gave a third app ids", small)
	}
}

func TestParseRange(t *testing.T) {
	if r, err := ParseRange("80000-80999"); err != nil || r != (Range{80000, 80999}) {
		t.Fatalf("ParseRange = %v %v", r, err)
	}
	for in, want := range map[string]string{
		"":                 "FIRST-LAST",
		"80000":            "FIRST-LAST",
		"a-b":              "FIRST-LAST",
		"1000-2000":        "start it at 65536",
		"80000-80000":      "no room for one app",
		"90000-80000":      "no room for one app",
		"80000-9999999999": "beyond the largest",
	} {
		if _, err := ParseRange(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseRange(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

var killRuns atomic.Int32

// TestKillUserEndsEveryProcessOfTheUser: processes of the user that left
// their session and process group are ended too. (The process limit that
// holds a fork bomb is tested end to end, in cmd/pier.)
func TestKillUserEndsEveryProcessOfTheUser(t *testing.T) {
	asRoot(t)
	// A user of its own for each run: the kernel may still count the
	// zombies of a run before.
	uid := DefaultRange.Last - 1 - 2*int(killRuns.Add(1))
	id := Identity{uid, uid}
	cmd := exec.Command("/bin/sh", "-c", `for i in $(seq 30); do setsid sleep 600 & done; sleep 600`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	id.Apply(cmd.SysProcAttr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() { KillUser(id) })
	for deadline := time.Now().Add(10 * time.Second); len(Processes(id)) < 31; {
		if time.Now().After(deadline) {
			t.Fatalf("only %d processes of uid %d started", len(Processes(id)), uid)
		}
		time.Sleep(20 * time.Millisecond)
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
