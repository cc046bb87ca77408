package sandbox

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// KillUser ends every process of id's user, wherever it went: a process
// that left its session or process group is found by its user all the
// same. Each round stops (SIGSTOP) what runs, so that a fork bomb cannot
// replace what is killed; once a scan finds nothing running, everything is
// killed. It returns how many processes were still there at the last look
// (0 when all are gone). The zero Identity kills nothing.
func KillUser(id Identity) int {
	if !id.Isolated() {
		return 0
	}
	deadline := time.Now().Add(5 * time.Second)
	for rounds := 0; ; {
		procs := processesOf(id.UID)
		if len(procs) == 0 {
			return 0
		}
		if time.Now().After(deadline) {
			return len(procs)
		}
		running := false
		for _, p := range procs {
			if !p.stopped {
				running = true
				_ = syscall.Kill(p.pid, syscall.SIGSTOP)
			}
		}
		// A parent that forked with vfork waits, uninterruptible, for a
		// child stopped before its exec: after a few rounds kill all the
		// same; the bomb has had no time to grow.
		if rounds++; !running || rounds > 5 {
			for _, p := range procs {
				_ = syscall.Kill(p.pid, syscall.SIGKILL)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// proc is a live process as KillUser sees it.
type proc struct {
	pid     int
	stopped bool // stopped, or uninterruptible: it forks nothing now
}

// processesOf lists the live processes whose real user is uid.
func processesOf(uid int) []proc {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var procs []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := statusOf(pid); ok && st.uid == uid {
			procs = append(procs, proc{pid: pid, stopped: st.stopped})
		}
	}
	return procs
}

// status is what KillUser reads of /proc/PID/status.
type status struct {
	uid     int // real user id
	stopped bool
}

// statusOf reads /proc/PID/status; a zombie counts as gone.
func statusOf(pid int) (status, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return status{}, false
	}
	st := status{uid: -1}
	for line := range bytes.Lines(b) {
		switch {
		case bytes.HasPrefix(line, []byte("State:")):
			f := bytes.Fields(line[6:])
			if len(f) > 0 && f[0][0] == 'Z' || len(f) > 0 && f[0][0] == 'X' {
				return status{}, false
			}
			st.stopped = len(f) > 0 && (f[0][0] == 'T' || f[0][0] == 't' || f[0][0] == 'D')
		case bytes.HasPrefix(line, []byte("Uid:")):
			f := bytes.Fields(line[4:])
			if len(f) > 0 {
				st.uid, _ = strconv.Atoi(string(f[0]))
			}
		}
	}
	return st, st.uid >= 0
}

// Processes lists the live processes of id's user.
func Processes(id Identity) []int {
	if !id.Isolated() {
		return nil
	}
	var pids []int
	for _, p := range processesOf(id.UID) {
		pids = append(pids, p.pid)
	}
	return pids
}

// StartTime is pid's start time in clock ticks since boot (0 when pid does
// not run), to tell a process from a later one given the same pid.
func StartTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: fields start after
	// the last ')'. The start time is field 22, the 20th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(string(f[19]), 10, 64)
	return n
}

// KillIn kills every process (but this one) whose working directory is dir
// or below it: what a build left running when it cannot be found by a
// user of its own. It returns how many it signalled.
func KillIn(dir string) int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, err := os.Readlink("/proc/" + e.Name() + "/cwd")
		if err == nil && (cwd == dir || strings.HasPrefix(cwd, dir+"/")) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			n++
		}
	}
	return n
}
