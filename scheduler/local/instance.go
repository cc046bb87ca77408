package local

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// passedEnv are the variables of the agent's own environment that reach
// apps; nothing else does (the agent's tokens and keys stay with it).
var passedEnv = []string{"PATH", "LANG", "TZ", "TMPDIR"}

// processEnv is the environment of a process of the slot: a minimal base,
// the release's config vars, then what pier sets. An app with a user of its
// own gets its private home as HOME and TMPDIR; otherwise HOME is the slug.
func (s *Scheduler) processEnv(sl *slotState, dyno string, port int) []string {
	env := map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin"}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LC_") || contains(passedEnv, k) {
			env[k] = v
		}
	}
	env["HOME"] = sl.Dir
	for k, v := range sl.Env {
		env[k] = v
	}
	if sl.User.Isolated() {
		home := filepath.Join(s.dir, "apps", sl.App, "home")
		env["HOME"], env["TMPDIR"] = home, filepath.Join(home, "tmp")
	}
	env["PATH"] = filepath.Join(sl.Dir, "bin") + ":" + env["PATH"]
	env["PORT"] = strconv.Itoa(port)
	env["DYNO"] = dyno
	env["PIER_APP"] = sl.App
	env["PIER_RELEASE"] = "v" + strconv.Itoa(sl.Release)
	env["PIER_SLOT"] = sl.Slot
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// maxEnvString is the longest "KEY=value" Linux passes to a new program
// (MAX_ARG_STRLEN, 32 pages of 4 KiB, with its terminating NUL).
const maxEnvString = 128 << 10

// startError explains why a process with environment env did not start,
// in words, when the system said its environment is too large (E2BIG): a
// single variable over Linux's bound, or all of them over the system's
// bound for arguments and environment together. It names variables, never
// their values.
func startError(err error, env []string) error {
	if !errors.Is(err, syscall.E2BIG) {
		return err
	}
	largest, total := "", 0
	for _, kv := range env {
		total += len(kv) + 1
		if len(kv) > len(largest) {
			largest = kv
		}
	}
	name, value, _ := strings.Cut(largest, "=")
	const tooLarge = "the release's environment is too large for the system to start a process"
	if len(largest)+1 > maxEnvString {
		return fmt.Errorf("%s: %s holds %s, and Linux passes at most 128 KB in one variable; keep large data out of config vars (in a file of the app or a data store) (%w)",
			tooLarge, name, byteSize(len(value)), err)
	}
	return fmt.Errorf("%s: its %d variables hold %s together, more than the system passes to a new process; unset config vars it does not need (%w)",
		tooLarge, len(env), byteSize(total), err)
}

// byteSize formats n bytes for people: "200.0 KB".
func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// newInstLocked creates (without starting) instance index of type typ.
func (s *Scheduler) newInstLocked(sl *slotState, typ string, index int) *inst {
	s.nextGen++
	id := fmt.Sprintf("%s/%s/%s.%d/%d", sl.App, sl.Slot, typ, index, s.nextGen)
	raw := filepath.Join(s.dir, "apps", sl.App, "raw", fmt.Sprintf("%s-%s.%d-%d.log", sl.Slot, typ, index, s.nextGen))
	in := &inst{
		instRecord: instRecord{
			ID: id, App: sl.App, Slot: sl.Slot, Release: sl.Release,
			Type: typ, Index: index, RawLog: raw,
		},
		tail:    &tailState{},
		backoff: minBackoff,
	}
	return in
}

// spawnLocked starts in's process: a new session, output to its raw log
// file, a port of its own. It does not wait for the process. A process
// that cannot be started counts as a crash: it is logged, and tried again
// on the crash backoff.
func (s *Scheduler) spawnLocked(in *inst, sl *slotState) error {
	in.State = StateStarting
	if err := s.startLocked(in, sl); err != nil {
		s.crashedLocked(in, "Error starting process: "+err.Error())
		return fmt.Errorf("starting %s: %w", in.Name(), err)
	}
	return nil
}

// startLocked is spawnLocked's start of the process.
func (s *Scheduler) startLocked(in *inst, sl *slotState) error {
	port, err := s.portLocked(in)
	if err != nil {
		return err
	}
	cmdline := sl.Processes[in.Type]
	out, err := openRaw(in.RawLog)
	if err != nil {
		return fmt.Errorf("opening its output file: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(shell(), "-c", profileWrapped(sl.Dir, cmdline))
	cmd.Dir = sl.Dir
	cmd.Env = s.processEnv(sl, in.Name(), port)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	sl.User.Apply(cmd.SysProcAttr)
	s.event(in.App, "%s Starting process with command `%s`", in.Name(), cmdline)
	if err := cmd.Start(); err != nil {
		return startError(err, cmd.Env)
	}
	// Reaped by checkProc (Wait4), by pid, so that processes adopted by a
	// later scheduler in this same process are reaped too.
	in.PID = cmd.Process.Pid
	cmd.Process.Release()
	in.PStart = processStart(in.PID)
	in.Port = port
	in.Command = cmdline
	in.StartedAt = time.Now().UTC()
	in.upSince = time.Time{}
	return nil
}

// portLocked keeps in's port when it is still free, else finds another one
// that no other instance uses.
func (s *Scheduler) portLocked(in *inst) (int, error) {
	used := map[int]bool{}
	for _, o := range s.insts {
		if o != in {
			used[o.Port] = true
		}
	}
	if in.Port != 0 && !used[in.Port] && !accepts(fmt.Sprintf("%s:%d", s.host, in.Port)) {
		return in.Port, nil
	}
	for range 20 {
		p, err := freePort(s.host)
		if err != nil {
			return 0, err
		}
		if !used[p] {
			return p, nil
		}
	}
	return 0, errors.New("no free port found")
}

// stopInsts stops the instances (all at once): removes them from the
// supervised set, ends their sessions, and logs their last output.
func (s *Scheduler) stopInsts(ins []*inst) {
	if len(ins) == 0 {
		return
	}
	var leaders []int
	s.mu.Lock()
	for _, in := range ins {
		delete(s.insts, in.ID)
		if in.State != StateCrashed && isOurs(in.PID, in.PStart) {
			leaders = append(leaders, in.PID)
			s.event(in.App, "%s Stopping all processes with SIGTERM", in.Name())
		}
	}
	s.saveOrLogLocked()
	s.mu.Unlock()
	killSessions(leaders, s.stopTimeout)
	for _, in := range ins {
		s.tail(in.App, in.Name(), in.RawLog, in.tail, tailLast)
	}
	s.mu.Lock()
	for _, in := range ins {
		s.event(in.App, "%s State changed from %s to stopped", in.Name(), in.State)
	}
	s.mu.Unlock()
}
