// Package proc reads the process table (/proc) and ends process sessions:
// what pier needs to supervise processes that outlive it. A process is
// known by its PID and its start time, so that a later process given the
// same PID is never mistaken for it. The local scheduler supervises apps
// with it, package addons the add-on servers.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"iter"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Stat is what pier reads of /proc/PID/stat.
type Stat struct {
	State   byte   // R, S, Z, ...
	Pgrp    int    // process group
	Session int    // session id
	Start   uint64 // start time, clock ticks since boot
	RSS     uint64 // resident set size, in pages
	CPU     uint64 // user and system time, its own and its waited-for children's, in clock ticks
}

// ReadStat parses /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return Stat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := bytes.Fields(b[i+2:]) // f[0] is field 3 (state)
	if len(f) < 22 {
		return Stat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	var st Stat
	st.State = f[0][0]
	st.Pgrp, _ = strconv.Atoi(string(f[2]))
	st.Session, _ = strconv.Atoi(string(f[3]))
	st.Start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	st.RSS, _ = strconv.ParseUint(string(f[21]), 10, 64)
	for _, k := range f[11:15] { // utime, stime, cutime, cstime
		n, _ := strconv.ParseUint(string(k), 10, 64)
		st.CPU += n
	}
	return st, nil
}

// Start returns the start time of pid, to tell it from a later
// process given the same pid.
func Start(pid int) uint64 {
	st, err := ReadStat(pid)
	if err != nil {
		return 0
	}
	return st.Start
}

// IsOurs reports whether pid is still the process started at start.
func IsOurs(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	st, err := ReadStat(pid)
	return err == nil && st.Start == start
}

// Check reports whether the process pid (started at start) still runs,
// reaping it when it is our child. note says how it ended.
func Check(pid int, start uint64) (alive bool, note string) {
	st, err := ReadStat(pid)
	if err != nil || st.Start != start {
		return false, "Process exited"
	}
	var ws syscall.WaitStatus
	got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	switch {
	case err == nil && got == pid:
		return false, ExitNote(ws)
	case err == nil:
		return true, "" // our child, running
	case errors.Is(err, syscall.ECHILD):
		// Adopted: somebody else's child. A zombie has ended.
		if st.State == 'Z' {
			return false, "Process exited"
		}
		return true, ""
	default:
		return true, ""
	}
}

// exitNote renders a wait status as Heroku does.
func ExitNote(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return fmt.Sprintf("Process exited with status %d (signal %s)", 128+int(ws.Signal()), ws.Signal())
	}
	return fmt.Sprintf("Process exited with status %d", ws.ExitStatus())
}

// Live yields every process that has not ended, with its stat.
func Live() iter.Seq2[int, Stat] {
	return func(yield func(int, Stat) bool) {
		ents, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		for _, e := range ents {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			st, err := ReadStat(pid)
			if err != nil || st.State == 'Z' {
				continue
			}
			if !yield(pid, st) {
				return
			}
		}
	}
}

// SessionMembers lists the live processes of the process group or session
// led by leader: the instance and every child it started.
func SessionMembers(leader int) []int {
	var pids []int
	for pid, st := range Live() {
		if st.Pgrp == leader || st.Session == leader {
			pids = append(pids, pid)
		}
	}
	return pids
}

// SignalSession sends sig to the process group and session of leader.
func SignalSession(leader int, sig syscall.Signal) {
	syscall.Kill(-leader, sig)
	for _, pid := range SessionMembers(leader) {
		syscall.Kill(pid, sig)
	}
}

// KillSessions ends the sessions led by leaders: SIGTERM, then SIGKILL to
// what remains after grace. Leaders that are our children are reaped.
func KillSessions(leaders []int, grace time.Duration) {
	for _, l := range leaders {
		SignalSession(l, syscall.SIGTERM)
	}
	deadline := time.Now().Add(grace)
	killed := false
	for {
		var left []int
		for _, l := range leaders {
			var ws syscall.WaitStatus
			syscall.Wait4(l, &ws, syscall.WNOHANG, nil)
			if len(SessionMembers(l)) > 0 {
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
				SignalSession(l, syscall.SIGKILL)
			}
			killed = true
			deadline = time.Now().Add(5 * time.Second)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The restart backoff of a supervised process (an app's instance, an
// add-on's server): 1s, 2s, 4s ... 30s after each crash, back to 1s once
// it has run for ResetBackoff. A process that cannot be started at all
// counts as a crash.
const (
	MinBackoff   = time.Second
	MaxBackoff   = 30 * time.Second
	ResetBackoff = 60 * time.Second
)
