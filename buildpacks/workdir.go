package buildpacks

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pierhq/pier/sandbox"
)

// A build's working directory, WorkDir/build-N, belongs to the build's
// user and holds its ENV_DIR (the app's config in plain text), the
// buildpacks' homes and fetched buildpacks. Beside it, WorkDir/build-N.procs
// (the agent's) lists the process groups of the build's plugins, one "pid
// start-time" a line: if the agent dies mid-build, Reap at the next start
// ends them and removes both, so no config value outlives a crash on disk.

// newRun prepares one build: its working directory and ENV_DIR.
func (b *Builder) newRun(o Options, out io.Writer, timeout time.Duration) (*buildRun, error) {
	if err := os.MkdirAll(b.workDir(), 0o711); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(b.workDir(), "build-")
	if err != nil {
		return nil, err
	}
	r := &buildRun{b: b, o: o, work: work, timeout: timeout,
		out: &boundedWriter{w: out, soft: b.outputLimit(), hard: b.outputHardLimit()}}
	if err := o.User.Chown(work); err != nil {
		r.cleanup()
		return nil, err
	}
	if err := o.User.ChownTree(o.SourceDir); err != nil {
		r.cleanup()
		return nil, fmt.Errorf("giving the source to the build's user: %w", err)
	}
	if r.envDir, err = writeEnvDir(filepath.Join(work, "env"), o.Env, o.User); err != nil {
		r.cleanup()
		return nil, fmt.Errorf("writing ENV_DIR: %w", err)
	}
	return r, nil
}

func (b *Builder) workDir() string {
	if b.WorkDir != "" {
		return b.WorkDir
	}
	return os.TempDir()
}

// record notes a plugin's process group beside the working directory.
func (r *buildRun) record(pid int) {
	if pid <= 0 {
		return
	}
	f, err := os.OpenFile(r.work+".procs", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.b.logf("buildpacks: recording plugin process %d: %v", pid, err)
		return
	}
	fmt.Fprintf(f, "%d %d\n", pid, sandbox.StartTime(pid))
	f.Close()
}

// reap ends every process the build left: its plugins' process groups,
// those working in its directories, and, when it has a user of its own,
// whatever else runs as that user (a process that left its group and its
// directory, say).
func (r *buildRun) reap() error {
	killRecorded(r.work + ".procs")
	sandbox.KillIn(r.work)
	sandbox.KillIn(r.o.SourceDir)
	if left := sandbox.KillUser(r.o.User); left > 0 {
		return fmt.Errorf("%d processes of the build (uid %d) could not be stopped", left, r.o.User.UID)
	}
	return nil
}

// cleanup removes the working directory and its record.
func (r *buildRun) cleanup() {
	_ = r.reap()
	os.RemoveAll(r.work)
	os.Remove(r.work + ".procs")
}

// Reap ends the processes of builds an earlier agent left running and
// empties WorkDir. Call it at start, before any build.
func (b *Builder) Reap() {
	ents, err := os.ReadDir(b.WorkDir)
	if err != nil || b.WorkDir == "" {
		return
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".procs") {
			killRecorded(filepath.Join(b.WorkDir, e.Name()))
		}
	}
	// What left its process group is found by where it works.
	sandbox.KillIn(b.WorkDir)
	for _, e := range ents {
		if err := os.RemoveAll(filepath.Join(b.WorkDir, e.Name())); err != nil {
			b.logf("buildpacks: removing a crashed build's %s: %v", e.Name(), err)
		}
	}
}

// killRecorded kills the process groups listed in a .procs file whose
// leaders are still the processes recorded.
func killRecorded(path string) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		pidS, startS, _ := strings.Cut(sc.Text(), " ")
		pid, err1 := strconv.Atoi(pidS)
		start, err2 := strconv.ParseUint(startS, 10, 64)
		if err1 != nil || err2 != nil || pid <= 1 {
			continue
		}
		if sandbox.StartTime(pid) == start {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	}
}

// chownTreeOnce gives dir and its contents to user unless dir is already
// the user's.
func chownTreeOnce(dir string, user sandbox.Identity) error {
	if !user.Isolated() {
		return nil
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == user.UID {
		return nil
	}
	return user.ChownTree(dir)
}
