package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// needIsolation skips a test of app isolation where the agent cannot
// switch users (not root), and fails it when PIER_REQUIRE names
// "isolation", as CI, which runs as root, does.
func needIsolation(t *testing.T) {
	t.Helper()
	needE2E(t)
	if os.Geteuid() == 0 {
		return
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == "isolation" {
			t.Fatal("isolation is required (PIER_REQUIRE) but the tests do not run as root")
		}
	}
	t.Skip("apps are isolated only by an agent that runs as root: skipping")
}

// appUID is the user id app runs as, from pier apps info.
func appUID(t *testing.T, a *agentProc, app string) int {
	t.Helper()
	var info api.App
	a.pierJSON(&info, "apps", "info", "-a", app)
	if info.UID == 0 || !strings.HasPrefix(info.Isolation, "isolated: runs as uid "+strconv.Itoa(info.UID)) {
		t.Fatalf("%s is not isolated: uid %d, %q", app, info.UID, info.Isolation)
	}
	if info.UID < testUIDs.first || info.UID+1 > testUIDs.last {
		t.Fatalf("%s runs as uid %d, outside the agent's --uid-range %d-%d", app, info.UID, testUIDs.first, testUIDs.last)
	}
	return info.UID
}

// processesOfUID lists the live processes whose real user is uid.
func processesOfUID(uid int) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		s := string(b)
		if strings.Contains(s, "\nUid:\t"+strconv.Itoa(uid)+"\t") && !strings.Contains(s, "zombie") {
			name, _, _ := strings.Cut(strings.TrimPrefix(s, "Name:\t"), "\n")
			out = append(out, e.Name()+" "+name)
		}
	}
	return out
}

// newPrebuiltApp is newPrebuiltRepo with the Procfile's web line replaced.
func newPrebuiltApp(t *testing.T, web string) *gitRepo {
	t.Helper()
	r := newPrebuiltRepo(t, "isolated")
	r.write("Procfile", "web: "+web+"\n")
	return r
}

// TestAppsAreIsolated: an app's processes and its one-off commands run as
// a user of their own, who cannot read the agent's files, another app's
// files or environment, nor signal the agent or another app.
func TestAppsAreIsolated(t *testing.T) {
	needIsolation(t)
	a := startAgent(t, agentOpts{})
	secret := fmt.Sprintf("beta-secret-%d", time.Now().UnixNano())
	a.mustPier("apps", "create", "beta")
	a.mustPier("config", "set", "-a", "beta", "SECRET="+secret)
	beta := newPrebuiltRepo(t, "beta")
	beta.remote(a, "beta", a.token)
	mustPush(t, beta, "main")

	a.mustPier("apps", "create", "alpha")
	alphaUID, betaUID := appUID(t, a, "alpha"), appUID(t, a, "beta")
	if alphaUID == betaUID {
		t.Fatalf("alpha and beta share uid %d", alphaUID)
	}
	a.mustPier("config", "set", "-a", "alpha", "PROBE_DIR="+a.dataDir)
	// The web process itself looks at the agent's files as it starts.
	alpha := newPrebuiltApp(t, `sh -c 'for f in admin.token secret.key pier.db local/state.json; do if cat "$PROBE_DIR/$f" >/dev/null 2>&1; then echo "probe: read $f"; else echo "probe: cannot read $f"; fi; done; exec bluegreen'`)
	alpha.remote(a, "alpha", a.token)
	mustPush(t, alpha, "main")
	waitFor(t, 10*time.Second, "the probe's lines in alpha's log", func() bool {
		return strings.Count(a.pier("logs", "-a", "alpha", "-n", "200").stdout, "]: probe: ") >= 4
	})
	logs := a.mustPier("logs", "-a", "alpha", "-n", "200")
	if strings.Contains(logs, "]: probe: read") || strings.Count(logs, "]: probe: cannot read") != 4 {
		t.Errorf("alpha's web process could read the agent's files:\n%s", grepLines(logs, "probe:"))
	}

	betaPID := psOf(t, a, "beta")[0].PID
	script := strings.Join([]string{
		`id -u`,
		`for f in admin.token secret.key pier.db local/state.json local/state.key; do cat "$PROBE_DIR/$f" >/dev/null 2>&1 && echo "read $f"; done`,
		`grep -l ` + secret + ` /proc/[0-9]*/environ 2>/dev/null | sed 's/^/found the secret in /'`,
		`ls "$PROBE_DIR/local/apps/beta" >/dev/null 2>&1 && echo "listed beta's files"`,
		`ls "$PROBE_DIR/cache" >/dev/null 2>&1 && echo "listed the caches"`,
		`kill -0 ` + strconv.Itoa(betaPID) + ` 2>/dev/null && echo "may signal beta"`,
		`kill -0 ` + strconv.Itoa(a.pid()) + ` 2>/dev/null && echo "may signal the agent"`,
		`touch bin/planted 2>/dev/null && echo "wrote its slug"`,
		`touch "$HOME/ok" "$TMPDIR/ok" && echo "home is writable"`,
	}, "\n")
	out := a.mustPier("run", "-a", "alpha", "--", script)
	if want := strconv.Itoa(alphaUID) + "\nhome is writable\n"; out != want {
		t.Errorf("pier run in alpha printed:\n%s\nwant only its uid and that its home is writable:\n%s", out, want)
	}
	if code, body, _ := a.get("beta", "/"); code != 200 || !strings.Contains(body, "beta") {
		t.Errorf("beta after alpha's probes: %d %q", code, body)
	}
	for _, ins := range psOf(t, a, "alpha") {
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", ins.PID)); err != nil || !strings.Contains(string(st), "\nUid:\t"+strconv.Itoa(alphaUID)+"\t") {
			t.Errorf("alpha's %s (pid %d) does not run as uid %d", ins.Type, ins.PID, alphaUID)
		}
	}
}

// classicProbe installs a classic buildpack in the agent's buildpacks
// directory whose compile step runs script, and returns its path.
func classicProbe(t *testing.T, a *agentProc, name, script string) string {
	t.Helper()
	dir := filepath.Join(a.dataDir, "buildpacks", name)
	files := map[string]string{
		"bin/detect":  "#!/bin/sh\necho Probe\n",
		"bin/compile": "#!/bin/bash\n" + script + "\n",
	}
	for f, body := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBuildIsIsolated: a build runs as its own user, reads its app's
// config through ENV_DIR, and cannot read the agent's files or the app's
// running slug.
func TestBuildIsIsolated(t *testing.T) {
	needIsolation(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "probe")
	uid := appUID(t, a, "probe")
	bp := classicProbe(t, a, "probe", `
PROBE_DIR=$(cat "$3/PROBE_DIR")
test -d "$PROBE_DIR/slugs" || echo "PROBE_DIR is wrong: $PROBE_DIR"
echo "build uid $(id -u)"
echo "own config: $(cat "$3/OWN")"
for f in admin.token secret.key pier.db local/state.json; do
  cat "$PROBE_DIR/$f" >/dev/null 2>&1 && echo "read $f"
done
ls "$PROBE_DIR/tmp" >/dev/null 2>&1 && echo "listed other builds"
ls "$PROBE_DIR/slugs" >/dev/null 2>&1 && echo "listed the slugs"
echo "probe done"
exit 1`)
	a.mustPier("config", "set", "-a", "probe", "BUILDPACK="+bp, "OWN=own-value", "PROBE_DIR="+a.dataDir)
	r := newRepo(t, "classic")
	r.remote(a, "probe", a.token)
	out, err := r.push("main")
	if err == nil {
		t.Fatalf("the probe's build succeeded:\n%s", out)
	}
	want := fmt.Sprintf("build uid %d\nown config: own-value\nprobe done", uid+1)
	if got := strings.Join(strings.Fields(grepRemote(out)), " "); !strings.Contains(got, strings.Join(strings.Fields(want), " ")) {
		t.Errorf("the build printed:\n%s\nwant:\n%s", grepRemote(out), want)
	}
	if left := processesOfUID(uid + 1); len(left) > 0 {
		t.Errorf("processes of the build's user outlived it: %v", left)
	}
}

// grepRemote is what a push printed from the agent, without git's prefix.
func grepRemote(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, "remote: "); ok {
			lines = append(lines, strings.TrimSpace(rest))
		}
	}
	return strings.Join(lines, "\n")
}

// TestForkBombInABuildIsContained: a build that forks without end is held
// to the process limit; the agent and the apps go on answering, the build
// fails, and nothing of it is left.
func TestForkBombInABuildIsContained(t *testing.T) {
	needIsolation(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_PROCESS_LIMIT=64"}})
	a.mustPier("apps", "create", "steady")
	steady := newPrebuiltRepo(t, "steady")
	steady.remote(a, "steady", a.token)
	mustPush(t, steady, "main")

	a.mustPier("apps", "create", "bomb")
	uid := appUID(t, a, "bomb")
	bp := classicProbe(t, a, "bomb", `
bomb() { bomb | bomb & }
bomb 2>/dev/null
sleep 4
echo "the bomb went off"
exit 1`)
	a.mustPier("config", "set", "-a", "bomb", "BUILDPACK="+bp)
	r := newRepo(t, "classic")
	r.remote(a, "bomb", a.token)
	done := make(chan string, 1)
	go func() { out, _ := r.push("main"); done <- out }()

	peak := 0
	var out string
	for out == "" {
		select {
		case out = <-done:
		case <-time.After(200 * time.Millisecond):
			peak = max(peak, len(processesOfUID(uid+1)))
			if code, body, _ := a.get("steady", "/"); code != 200 || !strings.Contains(body, "steady") {
				t.Errorf("steady answered %d %q during the fork bomb", code, body)
			}
		}
	}
	if !strings.Contains(out, "the bomb went off") || !strings.Contains(out, "Push rejected") {
		t.Errorf("the bomb's push printed:\n%s", out)
	}
	if peak > 64 {
		t.Errorf("the build's user ran %d processes, over the limit of 64", peak)
	}
	if peak < 4 {
		t.Errorf("the bomb made only %d processes: the test did not test the limit", peak)
	}
	waitFor(t, 10*time.Second, "no process of the bomb's build left", func() bool { return len(processesOfUID(uid+1)) == 0 })
}

// TestCrashMidBuildLeavesNothing: an agent killed mid-build leaves the
// build's processes and its ENV_DIR (config in plain text) behind; the
// next agent ends and removes them before it serves, whether builds run as
// users of their own or not.
func TestCrashMidBuildLeavesNothing(t *testing.T) {
	needE2E(t)
	modes := map[string]func(*testing.T) string{
		// A data dir other users cannot reach turns isolation off.
		"not isolated": func(t *testing.T) string { return t.TempDir() },
		"isolated":     func(t *testing.T) string { needIsolation(t); return reachableTempDir(t) },
	}
	for name, dataDir := range modes {
		t.Run(name, func(t *testing.T) { testCrashMidBuild(t, dataDir(t)) })
	}
}

func testCrashMidBuild(t *testing.T, dataDir string) {
	a := startAgent(t, agentOpts{dataDir: dataDir})
	canary := fmt.Sprintf("canary-%d", time.Now().UnixNano())
	a.mustPier("apps", "create", "crash")
	bp := classicProbe(t, a, "slow", `
echo "compile running"
trap '' TERM
setsid sleep 600 </dev/null >/dev/null 2>&1 &
sleep 600`)
	a.mustPier("config", "set", "-a", "crash", "BUILDPACK="+bp, "SECRET="+canary)
	r := newRepo(t, "classic")
	r.remote(a, "crash", a.token)
	pushed := make(chan struct{})
	go func() { defer close(pushed); _, _ = r.push("main") }()

	tmp := filepath.Join(a.dataDir, "tmp")
	waitFor(t, 60*time.Second, "the build's sleeping processes and its ENV_DIR", func() bool {
		return len(processesIn(tmp)) >= 3 && len(filesHolding(tmp, canary)) > 0
	})
	a.kill()
	<-pushed
	if len(processesIn(tmp)) < 2 || len(filesHolding(tmp, canary)) == 0 {
		t.Fatal("the build's processes or its ENV_DIR did not outlive the agent: the test tests nothing")
	}
	a.start()
	if left := processesIn(tmp); len(left) > 0 {
		t.Errorf("processes of the crashed build outlived the next start: %v", left)
	}
	if files := filesHolding(a.dataDir, canary); len(files) > 0 {
		t.Errorf("the config value is in plain text in %v after the next start", files)
	}
	if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
		t.Errorf("%s still holds %d entries after the next start", tmp, len(ents))
	}
}

// processesIn lists the live processes whose working directory is in dir.
func processesIn(dir string) []string {
	ents, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range ents {
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || !strings.HasPrefix(cwd, dir+"/") {
			continue
		}
		if st, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil && !strings.Contains(string(st), ") Z ") {
			out = append(out, e.Name())
		}
	}
	return out
}

// filesHolding lists the files under dir whose bytes contain s.
func filesHolding(dir, s string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return nil
		}
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), s) {
			out = append(out, p)
		}
		return nil
	})
	return out
}
