package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

// mustPush pushes main to the deploy remote and wants want in its output.
func mustPush(t *testing.T, r *gitRepo, want string) string {
	t.Helper()
	out, err := r.push("main")
	if err != nil || !strings.Contains(out, want) {
		t.Fatalf("git push: %v, want %q in:\n%s", err, want, out)
	}
	return out
}

func psOf(t *testing.T, a *agentProc, app string) []api.Instance {
	t.Helper()
	var insts []api.Instance
	a.pierJSON(&insts, "ps", "-a", app)
	return insts
}

// slotSummary sums instances up as "blue:v1:web.1 green:v2:web.1,worker.1",
// slots and names sorted; only instances that are up count.
func slotSummary(insts []api.Instance) string {
	groups := map[string][]string{}
	for _, in := range insts {
		if in.State != api.StateUp {
			continue
		}
		k := fmt.Sprintf("%s:v%d", in.Slot, in.Release)
		groups[k] = append(groups[k], in.Name)
	}
	var parts []string
	for k, names := range groups {
		sort.Strings(names)
		parts = append(parts, k+":"+strings.Join(names, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// pidsOf lists the PIDs of slot's web instances, as "web.1=123".
func pidsOf(insts []api.Instance, slot string) string {
	var parts []string
	for _, in := range insts {
		if in.Slot == slot && in.Type == "web" {
			parts = append(parts, fmt.Sprintf("%s=%d", in.Name, in.PID))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func liveOnly(insts []api.Instance, slot string) []api.Instance {
	var out []api.Instance
	for _, in := range insts {
		if in.Slot == slot {
			out = append(out, in)
		}
	}
	return out
}

func releasesOf(t *testing.T, a *agentProc, app string) []api.Release {
	t.Helper()
	var rels []api.Release
	a.pierJSON(&rels, "releases", "-a", app)
	return rels
}

func releaseOf(t *testing.T, a *agentProc, app string, version int) api.Release {
	t.Helper()
	for _, r := range releasesOf(t, a, app) {
		if r.Version == version {
			return r
		}
	}
	t.Fatalf("%s has no release v%d", app, version)
	return api.Release{}
}

func lastRelease(t *testing.T, a *agentProc, app string) api.Release {
	t.Helper()
	rels := releasesOf(t, a, app)
	if len(rels) == 0 {
		t.Fatalf("%s has no release", app)
	}
	return rels[0] // newest first
}

func wantStatuses(t *testing.T, a *agentProc, app string, want map[int]string) {
	t.Helper()
	for _, r := range releasesOf(t, a, app) {
		if w, ok := want[r.Version]; ok && r.Status != w {
			t.Errorf("v%d (%s) is %s, want %s", r.Version, r.Description, r.Status, w)
		}
	}
}

func wantDescription(t *testing.T, a *agentProc, app string, version int, want string) {
	t.Helper()
	if got := releaseOf(t, a, app, version).Description; got != want {
		t.Errorf("v%d is described as %q, want %q", version, got, want)
	}
}

func wantConfig(t *testing.T, a *agentProc, app, key, want string) {
	t.Helper()
	r := a.pier("config", "get", "-a", app, key)
	if r.code != 0 || strings.TrimSpace(r.stdout) != want {
		t.Errorf("config get %s = %q (exit %d), want %q", key, strings.TrimSpace(r.stdout), r.code, want)
	}
}

func wantUnset(t *testing.T, a *agentProc, app, key string) {
	t.Helper()
	if r := a.pier("config", "get", "-a", app, key); r.code == 0 {
		t.Errorf("config get %s = %q, want it unset", key, strings.TrimSpace(r.stdout))
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// newPrebuiltRepo makes a checkout of the bluegreen fixture compiled here,
// as bin/bluegreen beside its Procfile and app.json: its pushes go through
// the Procfile buildpack and need no compiler, so these tests spend their
// time on deploys rather than on cold Go builds (the spine test covers
// those).
func newPrebuiltRepo(t *testing.T, greeting string) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"Procfile", "app.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "apps", "bluegreen", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &gitRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main")
	// Above git's default 1 MB, packs go chunked, and the agent's git
	// endpoint (a CGI handler) refuses chunked bodies with a 400.
	r.git("config", "http.postBuffer", "67108864")
	r.rebuild(greeting)
	return r
}

// rebuild compiles the fixture with greeting into bin/bluegreen and
// commits it.
func (r *gitRepo) rebuild(greeting string) { r.rebuildWith(greeting, "") }

// rebuildWith is rebuild with more -ldflags ("-X main.crashAfter=3s").
func (r *gitRepo) rebuildWith(greeting, ldflags string) {
	r.t.Helper()
	out := filepath.Join(r.dir, "bin", "bluegreen")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.greeting="+greeting+" "+ldflags, "-o", out, ".")
	cmd.Dir = filepath.Join("testdata", "apps", "bluegreen")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		r.t.Fatalf("building the bluegreen fixture: %v\n%s", err, b)
	}
	r.commit("greeting " + greeting)
}

// grepLines keeps the lines of out that contain word.
func grepLines(out, word string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, word) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}
