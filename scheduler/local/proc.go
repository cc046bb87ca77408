package local

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// procStat is what pier reads of /proc/PID/stat.
type procStat struct {
	state   byte   // R, S, Z, ...
	pgrp    int    // process group
	session int    // session id
	start   uint64 // start time, clock ticks since boot
	rss     uint64 // resident set size, in pages
	cpu     uint64 // user and system time, its own and its waited-for children's, in clock ticks
}

// readProcStat parses /proc/PID/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+2:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	var st procStat
	st.state = f[0][0]
	st.pgrp, _ = strconv.Atoi(string(f[2]))
	st.session, _ = strconv.Atoi(string(f[3]))
	st.start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	st.rss, _ = strconv.ParseUint(string(f[21]), 10, 64)
	for _, k := range f[11:15] { // utime, stime, cutime, cstime
		n, _ := strconv.ParseUint(string(k), 10, 64)
		st.cpu += n
	}
	return st, nil
}

// processStart returns the start time of pid, to tell it from a later
// process given the same pid.
func processStart(pid int) uint64 {
	st, err := readProcStat(pid)
	if err != nil {
		return 0
	}
	return st.start
}

// isOurs reports whether pid is still the process started at start.
func isOurs(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := readProcStat(pid)
	return err == nil && st.start == start
}

// checkProc reports whether the process pid (started at start) still runs,
// reaping it when it is our child. note says how it ended.
func checkProc(pid int, start uint64) (alive bool, note string) {
	st, err := readProcStat(pid)
	if err != nil || st.start != start {
		return false, "Process exited"
	}
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	switch {
	case err == nil && got == pid:
		return false, exitNote(ws)
	case err == nil:
		return true, "" // our child, running
	case errors.Is(err, syscall.ECHILD):
		// Adopted: somebody else's child. A zombie has ended.
		if st.state == 'Z' {
			return false, "Process exited"
		}
		return true, ""
	default:
		return true, ""
	}
}

// exitNote renders a wait status as Heroku does.
func exitNote(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("Process exited with status %d (signal %s)", 128+int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("Process exited with status %d", ws.ExitStatus())
}

// liveProcesses yields every process that has not ended, with its stat.
func liveProcesses() iter.Seq2[int, procStat] {
	return func(yield func(int, procStat) bool) {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			st, err := readProcStat(pid)
			if err != nil || st.state == 'Z' {
				continue
			}
			if !yield(pid, st) {
				return
			}
		}
	}
}

// sessionMembers lists the live processes of the process group or session
// led by leader: the instance and every child it started.
func sessionMembers(leader int) []int {
	var pids []int
	for pid, st := range liveProcesses() {
		if st.pgrp == leader || st.session == leader {
			pids = append(pids, pid)
		}
	}
	return pids
}

// signalSession sends sig to the process group and session of leader.
func signalSession(leader int, sig syscall.Signal) {
	syscall.Kill(-leader, sig)
	for _, pid := range sessionMembers(leader) {
		syscall.Kill(pid, sig)
	}
}

// killSessions ends the sessions led by leaders: SIGTERM, then SIGKILL to
// what remains after grace. Leaders that are our children are reaped.
func killSessions(leaders []int, grace time.Duration) {
	for _, l := range leaders {
		signalSession(l, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	killed := false
	for {
		var left []int
		for _, l := range leaders {
			var ws syscall.WaitStatus
			syscall.Wait4(l, &ws, syscall.WNOHANG, nil)
			if len(sessionMembers(l)) > 0 {
				left = append(left, l)
			}
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			if killed {
				return // unkillable (uninterruptible sleep): give up
			}
			for _, l := range left {
				signalSession(l, syscall.SIGKILL)
			}
			killed = true
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freePort asks the kernel for a free TCP port on host.
func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// accepts reports whether addr accepts TCP connections.
func accepts(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// shell is the shell commands run with: bash, as on Heroku, else sh.
func shell() string {
	for _, p := range []string{"/bin/bash", "/usr/bin/bash"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "/bin/sh"
}

// profileWrapped sources the slug's .profile.d scripts before cmd, as
// Heroku does, when the slug has any.
func profileWrapped(dir, cmd string) string {
	if m, _ := filepath.Glob(filepath.Join(dir, ".profile.d", "*.sh")); len(m) == 0 {
		return cmd
	}
	return "for f in .profile.d/*.sh; do [ -r \"$f\" ] && . \"$f\"; done\n" + cmd
}
