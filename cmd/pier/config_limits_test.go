package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// TestConfigLimits: config vars over the limits, with a NUL byte or with a
// bad name are refused with 400 and a message that says what to do, and
// change nothing. A release whose processes the system cannot start (its
// config set before there were limits) fails with the reason in words,
// leaves the live release serving and nothing of itself running.
func TestConfigLimits(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	const app = "limits"
	a.mustPier("apps", "create", app)
	repo := newRepo(t, "static")
	repo.remote(a, app, a.token)
	pushShows(t, repo, "Released v1")
	a.mustPier("config", "set", "-a", app, "KEEP=1", "MEDIUM="+strings.Repeat("m", 16<<10))

	t.Run("refused", func(t *testing.T) {
		a := a.in(t)
		twelve := strings.Repeat("x", 12<<10)
		for _, tc := range []struct {
			name string
			vars map[string]*string
			want []string
		}{
			{"a 40 KB value", map[string]*string{"BIG": ptr(strings.Repeat("x", 40<<10))},
				[]string{"the value of BIG is 40.0 KB (40960 bytes), over the limit of 32.0 KB (32768 bytes)", "keep large data in a file"}},
			{"over 32 KB across keys", map[string]*string{"A": ptr(twelve), "B": ptr(twelve)},
				[]string{"the config vars of limits would hold 40.0 KB (40973 bytes) together", "over the limit of 32.0 KB (32768 bytes) for an app", "the largest: MEDIUM 16.0 KB", "pier config unset -a limits KEY"}},
			{"a NUL in a value", map[string]*string{"TOKEN": ptr("ab\x00cd")},
				[]string{"the value of TOKEN contains a NUL byte"}},
			{"a bad key", map[string]*string{"MY-KEY": ptr("1")},
				[]string{`"MY-KEY" is not a valid config var name: use letters, digits and _`}},
			{"an = in a key", map[string]*string{"A=B": ptr("1")},
				[]string{`"A=B" is not a valid config var name`}},
			{"a NUL in a key", map[string]*string{"A\x00B": ptr("1")},
				[]string{`"A\x00B" is not a valid config var name`}},
		} {
			before, beforeRels := configOf(t, a, app), len(releasesOf(t, a, app))
			code, msg := a.patchConfig(app, tc.vars)
			if code != http.StatusBadRequest {
				t.Errorf("%s: status %d (%s), want 400", tc.name, code, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("%s: the message %q lacks %q", tc.name, msg, w)
				}
			}
			if n := len(releasesOf(t, a, app)); n != beforeRels {
				t.Errorf("%s made a release: %d releases, were %d", tc.name, n, beforeRels)
			}
			if after := configOf(t, a, app); !reflect.DeepEqual(after, before) {
				t.Errorf("%s changed the config: keys %v, were %v", tc.name, varNames(after), varNames(before))
			}
		}
		r := a.pier("config", "set", "-a", app, "BIG="+strings.Repeat("x", 40<<10))
		if r.code == 0 || !strings.Contains(r.stderr, "over the limit of 32.0 KB") || strings.Contains(r.stderr, "internal error") {
			t.Errorf("pier config set of a 40 KB value: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("a release that cannot start", func(t *testing.T) {
		a := a.in(t)
		live := lastRelease(t, a, app).Version
		// A config from before the limits: the store takes it as it is.
		a.stop()
		key, err := store.LoadOrCreateKey(a.dataDir, "")
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(filepath.Join(a.dataDir, "pier.db"), key)
		if err != nil {
			t.Fatal(err)
		}
		vars, err := st.Config(app)
		if err == nil {
			vars["BIG"] = strings.Repeat("x", 200<<10)
			err = st.SetConfig(app, vars)
		}
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
		a.start()
		t.Cleanup(a.stop) // a is this subtest's copy: the test's own stop does not see this agent

		code, msg := a.patchConfig(app, map[string]*string{"KEEP": nil})
		next := live + 1
		if code != http.StatusUnprocessableEntity {
			t.Errorf("a config change whose release cannot start: status %d, want 422", code)
		}
		for _, w := range []string{"v" + itoa(next) + " could not be started", "the release's environment is too large for the system to start a process",
			"BIG holds 200.0 KB", "the live release keeps serving"} {
			if !strings.Contains(msg, w) {
				t.Errorf("the message %q lacks %q", msg, w)
			}
		}
		if strings.Contains(msg, "xxxx") || strings.Contains(msg, "internal error") {
			t.Errorf("the message holds a value or blames the server: %.300s", msg)
		}
		failed := lastRelease(t, a, app)
		if failed.Version != next || failed.Status != api.StatusFailed || !strings.Contains(failed.Reason, "environment is too large") {
			t.Errorf("the last release is v%d %s (%q), want v%d failed with the reason", failed.Version, failed.Status, failed.Reason, next)
		}
		checkStillServing(t, a, app, "/", "Hello from a static site", live)
		wantConfig(t, a, app, "KEEP", "1")
		// Nothing of the failed release runs, nor comes back.
		for _, wait := range []time.Duration{0, 3 * time.Second} {
			time.Sleep(wait)
			for _, in := range psOf(t, a, app) {
				if in.Release != live || in.State != api.StateUp {
					t.Errorf("after %s: %s of v%d in %s is %s, want only v%d up", wait, in.Name, in.Release, in.Slot, in.State, live)
				}
			}
		}
		if logs := a.mustPier("logs", "-a", app, "-n", "200"); !strings.Contains(logs, "web.1 Error starting process: the release's environment is too large") {
			t.Errorf("the logs do not say why web.1 did not start:\n%s", logs)
		}

		repo.write("public/more.html", "<p>more</p>\n")
		out, err := repo.push("main")
		if err == nil || !strings.Contains(out, "environment is too large for the system to start a process") || !strings.Contains(out, "Push rejected") {
			t.Errorf("a push whose release cannot start: err %v\n%s", err, out)
		}
		checkStillServing(t, a, app, "/", "Hello from a static site", live)

		// The way out the message shows: unset the large var.
		a.mustPier("config", "unset", "-a", app, "BIG")
		if rel := lastRelease(t, a, app); rel.Status != api.StatusLive || rel.Version == live {
			t.Errorf("after unsetting BIG the last release is v%d %s, want a new live one", rel.Version, rel.Status)
		}
	})
}

func ptr(s string) *string { return &s }

// patchConfig sends PATCH /v1/apps/APP/config and returns the status and
// the error message of the answer.
func (a *agentProc) patchConfig(app string, vars map[string]*string) (int, string) {
	a.t.Helper()
	body, err := json.Marshal(api.ConfigRequest{Vars: vars})
	if err != nil {
		a.t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPatch, "http://"+a.apiAddr+"/v1/apps/"+app+"/config", bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		a.t.Fatalf("PATCH config: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e api.Error
	_ = json.Unmarshal(b, &e)
	return resp.StatusCode, e.Message
}

// varNames lists the names of vars, sorted (their values may be large).
func varNames(vars map[string]string) []string {
	var names []string
	for k := range vars {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

func configOf(t *testing.T, a *agentProc, app string) map[string]string {
	t.Helper()
	var vars map[string]string
	a.pierJSON(&vars, "config", "-a", app)
	return vars
}
