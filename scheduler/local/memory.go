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

// checkMemory measures the memory of every instance whose process type has
// a limit (pier scale web=1:512M) and stops with SIGKILL those over it, as
// the kernel's OOM killer does to a Nomad task over its own: the next
// supervision round sees the process end and restarts it after the usual
// crash backoff. An instance's memory is the proportional set size (PSS)
// of its whole session, so pages that forked workers share count once.
func (s *Scheduler) checkMemory() {
	type limited struct {
		in    *inst
		pid   int
		limit int64 // bytes
	}
	s.mu.Lock()
	var ls []limited
	for _, in := range s.insts {
		if in.State == StateCrashed || in.PID <= 0 {
			continue
		}
		sl := s.slots[slotKey{in.App, in.Slot}]
		if sl == nil {
			continue
		}
		if mb := sl.MemoryMB[in.Type]; mb > 0 {
			ls = append(ls, limited{in: in, pid: in.PID, limit: int64(mb) << 20})
		}
	}
	s.mu.Unlock()
	if len(ls) == 0 {
		return
	}
	leaders := make(map[int]bool, len(ls))
	for _, l := range ls {
		leaders[l.pid] = true
	}
	used := sessionsMemory(leaders)
	for _, l := range ls {
		u, ok := used[l.pid]
		s.mu.Lock()
		if s.insts[l.in.ID] == l.in && l.in.PID == l.pid {
			l.in.memory = u
		}
		s.mu.Unlock()
		if !ok || u <= l.limit {
			continue
		}
		s.mu.Lock()
		if s.insts[l.in.ID] != l.in || l.in.PID != l.pid || l.in.State == StateCrashed {
			s.mu.Unlock()
			continue // stopped, replaced or ended meanwhile
		}
		l.in.oomKills++
		s.event(l.in.App, "%s Error R15 (Memory quota exceeded): using %s of its %s; stopping the process with SIGKILL",
			l.in.Name(), mib(u), mib(l.limit))
		s.mu.Unlock()
		signalSession(l.pid, syscall.SIGKILL)
	}
}

// mib formats a size in bytes as Heroku's memory figures do: "512M".
func mib(b int64) string { return fmt.Sprintf("%dM", (b+(1<<20)-1)>>20) }

// sessionsMemory returns the memory, in bytes, of the process groups and
// sessions led by leaders: the sum of their live processes' PSS. A leader
// without a live process has no entry.
func sessionsMemory(leaders map[int]bool) map[int]int64 {
	used := map[int]int64{}
	for pid, st := range liveProcesses() {
		leader := 0
		switch {
		case leaders[st.pgrp]:
			leader = st.pgrp
		case leaders[st.session]:
			leader = st.session
		default:
			continue
		}
		used[leader] += processMemory(pid, st)
	}
	return used
}

// processMemory is pid's proportional set size, or its resident set size
// where the kernel has no smaps_rollup (before Linux 4.14).
func processMemory(pid int, st procStat) int64 {
	if pss, ok := readPSS(pid); ok {
		return pss
	}
	return int64(st.rss) * int64(os.Getpagesize())
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
