package local

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// memoryEvery is how often the memory of instances with a limit is
// measured.
var memoryEvery = time.Second

// checkMemory measures the CPU time of every instance and the memory of
// every instance whose process type has a limit (pier scale web=1:512M),
// and stops with SIGKILL those over their limit, as the kernel's OOM
// killer does to a Nomad task over its own: the next supervision round
// sees the process end and restarts it after the usual crash backoff. An
// instance's memory is the proportional set size (PSS) of its whole
// session, so pages that forked workers share count once; its CPU time is
// its session's processes' (and their waited-for children's) user and
// system time.
func (s *Scheduler) checkMemory() {
	type running struct {
		in    *inst
		pid   int
		limit int64 // bytes; 0: none
	}
	s.mu.Lock()
	var rs []running
	for _, in := range s.insts {
		if in.State == StateCrashed || in.PID <= 0 {
			continue
		}
		sl := s.slots[slotKey{in.App, in.Slot}]
		if sl == nil {
			continue
		}
		rs = append(rs, running{in: in, pid: in.PID, limit: int64(sl.MemoryMB[in.Type]) << 20})
	}
	s.mu.Unlock()
	if len(rs) == 0 {
		return
	}
	leaders := make(map[int]bool, len(rs))
	for _, r := range rs {
		leaders[r.pid] = r.limit > 0
	}
	used, cpu := sessionsUsage(leaders)
	for _, r := range rs {
		u, ok := used[r.pid]
		s.mu.Lock()
		if s.insts[r.in.ID] == r.in && r.in.PID == r.pid {
			r.in.memory = u
			if t, ok := cpu[r.pid]; ok {
				r.in.cpu = float64(t) / clockTicks
			}
		}
		s.mu.Unlock()
		if r.limit == 0 || !ok || u <= r.limit {
			continue
		}
		s.mu.Lock()
		if s.insts[r.in.ID] != r.in || r.in.PID != r.pid || r.in.State == StateCrashed {
			s.mu.Unlock()
			continue // stopped, replaced or ended meanwhile
		}
		r.in.oomKills++
		s.event(r.in.App, "%s Error R15 (Memory quota exceeded): using %s of its %s; stopping the process with SIGKILL",
			r.in.Name(), mib(u), mib(r.limit))
		s.mu.Unlock()
		signalSession(r.pid, syscall.SIGKILL)
	}
}

// clockTicks is the unit of /proc's CPU times: USER_HZ, 100 on Linux.
const clockTicks = 100

// mib formats a size in bytes as Heroku's memory figures do: "512M".
func mib(b int64) string { return fmt.Sprintf("%dM", (b+(1<<20)-1)>>20) }

// sessionsUsage returns the CPU time, in clock ticks, of the process
// groups and sessions led by leaders, and the memory, in bytes, of those
// whose leader maps to true: the sums over their live processes. A leader
// without a live process has no entry.
func sessionsUsage(leaders map[int]bool) (used map[int]int64, cpu map[int]uint64) {
	used, cpu = map[int]int64{}, map[int]uint64{}
	for pid, st := range liveProcesses() {
		leader := 0
		switch {
		case hasKey(leaders, st.Pgrp):
			leader = st.Pgrp
		case hasKey(leaders, st.Session):
			leader = st.Session
		default:
			continue
		}
		cpu[leader] += st.CPU
		if leaders[leader] {
			used[leader] += processMemory(pid, st)
		}
	}
	return used, cpu
}

func hasKey(m map[int]bool, k int) bool { _, ok := m[k]; return ok }

// processMemory is pid's proportional set size, or its resident set size
// where the kernel has no smaps_rollup (before Linux 4.14).
func processMemory(pid int, st procStat) int64 {
	if pss, ok := readPSS(pid); ok {
		return pss
	}
	return int64(st.RSS) * int64(os.Getpagesize())
}

// readPSS reads the "Pss:" line of /proc/PID/smaps_rollup, in bytes.
func readPSS(pid int) (int64, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.HasPrefix(line, []byte("Pss:")) {
			continue
		}
		f := bytes.Fields(line[len("Pss:"):])
		if len(f) < 1 {
			return 0, false
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, false
		}
		return kb << 10, true
	}
	return 0, false
}
