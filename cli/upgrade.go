package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// upgradeCommand is `pier upgrade --binary PATH`: the running agent handed
// over to another binary, and back to the one before if it does not serve.
func upgradeCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "upgrade",
		Usage: "hand the running agent over to a new binary; go back to the previous one if it does not become ready",
		Description: "Run it on the agent's machine as the agent's user (root for the service). It checks the\n" +
			"new binary, asks the agent for a backup, keeps a copy of the binary the agent runs\n" +
			"(--previous), puts the new one in its place (one rename), sends the agent SIGHUP and\n" +
			"waits until the new agent answers /readyz with the new version. If that does not\n" +
			"happen within --timeout, it puts the previous binary back and hands over to it the\n" +
			"same way. Requests never fail meanwhile: both agents accept on the same sockets.",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "binary", Required: true, Usage: "the new pier `FILE`"},
			&ucli.StringFlag{Name: "data-dir", Value: defaultDataDir(), EnvVars: []string{"PIER_DATA_DIR"}, Usage: "the running agent's data dir"},
			&ucli.DurationFlag{Name: "timeout", Value: time.Minute, Usage: "how long the new agent may take to become ready"},
			&ucli.StringFlag{Name: "previous", Usage: "where to keep the running binary to go back to (default: its path + .previous); when --binary is already in place, the copy made before"},
			&ucli.StringFlag{Name: "backup-to", Usage: "where the backup taken first goes: a `DIR`, s3:// or gs://bucket/prefix, as for pier backup create --to (default: DATA-DIR/backups)"},
			&ucli.BoolFlag{Name: "no-backup", Usage: "do not take a backup first"},
		},
		Action: runUpgrade,
	}
}

// defaultDataDir is the service's data dir when it exists, else the
// agent's default.
func defaultDataDir() string {
	if fi, err := os.Stat("/var/lib/pier"); err == nil && fi.IsDir() {
		return "/var/lib/pier"
	}
	return "pier-data"
}

// upgrade is one `pier upgrade`: the agent, the binary it runs now and the
// one it is to run.
type upgrade struct {
	c        *ucli.Context
	agent    runningAgent
	next     pierBinary
	prev     pierBinary // the running binary, or the copy of it at --previous
	keep     string     // where the previous binary is kept
	inPlace  bool       // --binary is the agent's binary already (a package replaced it)
	deadline time.Duration
}

func runUpgrade(c *ucli.Context) error {
	if c.Args().Present() {
		return fmt.Errorf("pier upgrade takes no arguments, got %q: give the new binary with --binary FILE", c.Args().First())
	}
	u, err := planUpgrade(c)
	if err != nil {
		return err
	}
	if !c.Bool("no-backup") {
		if err := u.backup(); err != nil {
			return fmt.Errorf("the backup before the upgrade failed, nothing was changed: %w (--no-backup skips it)", err)
		}
	}
	if !u.inPlace {
		progress(c, "Keeping %s (pier %s) as %s\n", u.agent.binary, u.prev.version, u.keep)
		if err := installBinary(u.agent.binary, u.keep); err != nil {
			return fmt.Errorf("keeping the running binary, nothing was changed: %w", err)
		}
		if err := installBinary(u.next.path, u.agent.binary); err != nil {
			return fmt.Errorf("putting the new binary in place, nothing was changed: %w", err)
		}
	}
	progress(c, "Handing agent %d over to pier %s (waiting up to %s for it to be ready)... ", u.agent.pid, u.next.version, u.deadline)
	pid, why := u.handOver(u.agent.pid, u.next)
	if pid != 0 {
		progress(c, "done\n")
		fmt.Fprintf(c.App.Writer, "upgraded: pier %s -> %s (agent pid %d -> %d); the previous binary is %s\n", u.prev.version, u.next.version, u.agent.pid, pid, u.keep)
		return nil
	}
	progress(c, "failed: %s\n", why)
	return u.rollBack(why)
}

// planUpgrade finds the agent and checks both binaries; it changes nothing.
func planUpgrade(c *ucli.Context) (*upgrade, error) {
	agent, err := findAgent(c.String("data-dir"))
	if err != nil {
		return nil, err
	}
	u := &upgrade{c: c, agent: agent, keep: c.String("previous"), deadline: c.Duration("timeout")}
	if u.deadline <= 0 {
		return nil, fmt.Errorf("--timeout must be positive, got %s", u.deadline)
	}
	if u.keep == "" {
		u.keep = agent.binary + ".previous"
	}
	if u.next, err = checkBinary(c.Context, c.String("binary"), agent.binary); err != nil {
		return nil, err
	}
	u.inPlace, _ = sameFile(u.next.path, agent.binary)
	if same, _ := sameFile(u.next.path, u.keep); same && !u.inPlace {
		return nil, fmt.Errorf("--binary %s is where the running binary is to be kept (--previous): give --previous another path, e.g. %s.next", u.next.path, agent.binary)
	}
	if !u.inPlace {
		u.prev, err = checkBinary(c.Context, agent.binary, agent.binary)
		return u, err
	}
	if c.String("previous") == "" {
		return nil, fmt.Errorf("%s is the binary the agent runs already: give --previous FILE, a copy of the binary it ran before, to go back to: %w", agent.binary, errNoPrevious)
	}
	u.prev, err = checkBinary(c.Context, u.keep, agent.binary)
	return u, err
}

// backup has the agent write a backup to --backup-to, with the same
// command as `pier backup create`.
func (u *upgrade) backup() error {
	dir := u.c.String("backup-to")
	if dir == "" {
		dir = filepath.Join(u.agent.dataDir, "backups")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(u.c.Context, self, "backup", "create", "--to", dir)
	cmd.Env = append(os.Environ(), "PIER_API="+u.agent.apiURL, "PIER_TOKEN="+u.agent.token)
	cmd.Stdout, cmd.Stderr = u.c.App.ErrWriter, u.c.App.ErrWriter
	return cmd.Run()
}

// handOver sends the agent pid SIGHUP and waits until an agent of another
// pid serves with bin's version. It returns that pid, or 0 and what it saw
// last. A handover still under way at the deadline is cut short: its new
// process is killed, and the agent before it goes on.
func (u *upgrade) handOver(pid int, bin pierBinary) (int, string) {
	// An agent that could not start the new one counts it, and goes on.
	failed, countErr := u.agent.failedHandovers(u.c.Context)
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return 0, fmt.Sprintf("signalling agent %d: %v", pid, err)
	}
	ctx, cancel := context.WithTimeout(u.c.Context, u.deadline)
	defer cancel()
	why := "no new agent yet"
	for {
		now, err := u.agent.pidFromFile()
		switch {
		case err == nil && now != pid:
			ok, w := u.agent.serving(ctx, now, bin.version)
			if ok {
				return now, ""
			}
			why = fmt.Sprintf("agent %d: %s", now, w)
		case err == nil && countErr == nil:
			if n, err := u.agent.failedHandovers(ctx); err == nil && n > failed {
				return 0, fmt.Sprintf("agent %d could not start the new agent, which exited (journalctl -u pier says why)", pid)
			}
		}
		select {
		case <-ctx.Done():
			if child := handoverChild(pid, u.agent.binary); child != 0 {
				_ = syscall.Kill(child, syscall.SIGKILL)
				why += fmt.Sprintf("; the new agent (pid %d) did not become ready in %s and was stopped", child, u.deadline)
			}
			return 0, why
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// rollBack puts the previous binary back and makes sure an agent running
// it serves: the agent before the handover when the handover did not
// finish, else a handover from the new agent to the previous binary.
func (u *upgrade) rollBack(why string) error {
	c := u.c
	progress(c, "Rolling back to pier %s: putting %s back at %s\n", u.prev.version, u.keep, u.agent.binary)
	if err := installBinary(u.keep, u.agent.binary); err != nil {
		return fmt.Errorf("the upgrade failed (%s) and the previous binary could not be put back: %w: copy %s to %s and restart the service", why, err, u.keep, u.agent.binary)
	}
	now, err := u.agent.pidFromFile()
	if err != nil {
		return fmt.Errorf("the upgrade failed (%s) and no agent runs now (%v): the previous binary is back at %s; start the service (systemctl start pier)", why, err, u.agent.binary)
	}
	if now == u.agent.pid {
		// The handover did not finish: the agent before it goes on.
		if ok := u.waitServing(now); ok {
			return &exitError{code: 1, msg: fmt.Sprintf("the upgrade to pier %s failed (%s); agent %d goes on with pier %s, the binary before", u.next.version, why, now, u.prev.version)}
		}
	}
	progress(c, "Handing agent %d back to pier %s... ", now, u.prev.version)
	back, why2 := u.handOver(now, u.prev)
	if back == 0 {
		progress(c, "failed\n")
		return fmt.Errorf("the upgrade failed (%s), and so did the handover back (%s): the previous binary is at %s; restart the service (systemctl restart pier)", why, why2, u.agent.binary)
	}
	progress(c, "done\n")
	return &exitError{code: 1, msg: fmt.Sprintf("the upgrade to pier %s failed (%s); rolled back: agent %d serves with pier %s", u.next.version, why, back, u.prev.version)}
}

// waitServing waits until the agent pid serves with the previous version
// again, as it does once it has taken back what it handed over.
func (u *upgrade) waitServing(pid int) bool {
	ctx, cancel := context.WithTimeout(u.c.Context, u.deadline)
	defer cancel()
	for {
		if ok, _ := u.agent.serving(ctx, pid, u.prev.version); ok {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(200 * time.Millisecond):
		}
	}
}
