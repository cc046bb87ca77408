package local

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/pierhq/pier/internal/proc"
)

// The process table, through internal/proc (shared with the add-on
// servers' supervisor).
type procStat = proc.Stat

var (
	readProcStat  = proc.ReadStat
	processStart  = proc.Start
	isOurs        = proc.IsOurs
	checkProc     = proc.Check
	liveProcesses = proc.Live
	signalSession = proc.SignalSession
	killSessions  = proc.KillSessions
)

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
