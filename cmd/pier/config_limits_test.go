package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestConfigLimits: config vars over the limits, with a NUL byte or with a
// bad name are refused with 400 and a message that says what to do, and
// change nothing.
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
