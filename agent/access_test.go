package agent

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pierhq/pier/agent/gitserver"
	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// docsRoles reads the table of docs/security.md (its Roles section) that
// says what each route needs: "| `GET /v1/apps` | any token |" rows.
func docsRoles(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "## ") {
			in = line == "## Roles"
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), "|")
		if len(cells) < 2 {
			continue
		}
		route := strings.Trim(strings.TrimSpace(cells[0]), "`")
		out[route] = strings.TrimSpace(cells[1])
	}
	return out
}

// TestDocsShowTheRolesTable: docs/security.md lists every route with what
// the code asks of it, and nothing else.
func TestDocsShowTheRolesTable(t *testing.T) {
	docs := docsRoles(t)
	code := map[string]string{
		"git fetch": gitFetchNeed.String(),
		"git push":  gitPushNeed.String(),
	}
	for _, rt := range apiRoutes {
		code[rt.pattern] = rt.need.String()
	}
	for route, n := range code {
		if docs[route] != n {
			t.Errorf("docs/security.md says %s needs %q; the code asks %q", route, docs[route], n)
		}
	}
	for route := range docs {
		if _, ok := code[route]; !ok {
			t.Errorf("docs/security.md lists %s, which is no route", route)
		}
	}
}

// accessAgent is an agent with a store and the access checks, enough to
// walk the routes; handlers are replaced by ones that say they ran.
func accessAgent(t *testing.T) *Agent {
	t.Helper()
	key := make([]byte, 32)
	st, err := store.Open(filepath.Join(t.TempDir(), "pier.db"), key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range []string{"shop", "blog"} {
		if err := st.CreateApp(api.App{Name: app, CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return &Agent{store: st, guard: newAuthGuard(t.Logf), hook: &gitserver.Hook{Token: "hook-secret"}}
}

// caller is a grant the walk tries.
type caller struct {
	name string
	api.Grant
}

var callers = []caller{
	{"admin", api.Grant{Role: api.RoleAdmin}},
	{"deploy-all", api.Grant{Role: api.RoleDeploy}},
	{"deploy-shop", api.Grant{Role: api.RoleDeploy, Apps: []string{"shop"}}},
	{"read-all", api.Grant{Role: api.RoleRead}},
	{"read-shop", api.Grant{Role: api.RoleRead, Apps: []string{"shop"}}},
}

// expect is what the docs' table says of a caller on a route that needs
// what docs says, naming app: 200 (allowed), 403 (a role too low) or 404
// (an app outside the caller's apps, as if it did not exist).
func expect(t *testing.T, needs string, c caller, app string) int {
	scoped := len(c.Apps) > 0
	outside := scoped && !slices.Contains(c.Apps, app)
	level := map[string]int{api.RoleRead: 1, api.RoleDeploy: 2, api.RoleAdmin: 3}[c.Role]
	switch needs {
	case "any token":
		return 200
	case "read", "deploy":
		if outside {
			return 404
		}
		if needs == "deploy" && level < 2 {
			return 403
		}
		return 200
	case "read, every app":
		if scoped {
			return 403
		}
		return 200
	case "admin":
		if c.Role != api.RoleAdmin {
			return 403
		}
		return 200
	}
	t.Fatalf("docs/security.md names an unknown need %q", needs)
	return 0
}

// TestEveryRouteChecksItsRole walks every API route with every role, on an
// app in the caller's apps and on one outside them, and checks that the
// answer is what the docs' table says; changes are in the audit log,
// attributed to the caller.
func TestEveryRouteChecksItsRole(t *testing.T) {
	a := accessAgent(t)
	docs := docsRoles(t)
	mux := http.NewServeMux()
	for _, rt := range apiRoutes {
		rt.handle = func(_ *Agent, w http.ResponseWriter, r *http.Request) error {
			w.WriteHeader(http.StatusOK)
			return nil
		}
		mux.Handle(rt.pattern, a.guarded(rt))
	}
	secrets := map[string]string{}
	for _, c := range callers {
		tok, err := a.store.CreateToken(c.name, c.Grant, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		secrets[c.name] = tok.Secret
	}
	values := map[string]string{"id": "0a1b2c3d", "fp": "SHA256:abc", "host": "www.example.com", "file": "x"}
	changes := 0
	for i, rt := range apiRoutes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		for _, app := range []string{"shop", "blog"} {
			p := path
			for k, v := range values {
				p = strings.ReplaceAll(p, "{"+k+"}", v)
			}
			p = strings.ReplaceAll(p, "{app}", app)
			for _, c := range callers {
				req := httptest.NewRequest(method, p, nil)
				req.RemoteAddr = "192.0.2.7:40000"
				req.Header.Set("Authorization", "Bearer "+secrets[c.name])
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, req)
				want := expect(t, docs[rt.pattern], c, app)
				if w.Code != want {
					t.Errorf("%s %s by %s: %d %s, want %d", method, p, c.name, w.Code, strings.TrimSpace(w.Body.String()), want)
				}
				if want == 404 && !strings.Contains(w.Body.String(), fmt.Sprintf(`app \"%s\" not found: see`, app)) {
					t.Errorf("%s %s by %s: %q; want the words of an app that does not exist", method, p, c.name, w.Body.String())
				}
				if isChange(method) {
					changes++
					es, err := a.store.Audit(store.AuditFilter{Limit: 1})
					if err != nil || len(es) != 1 {
						t.Fatalf("audit after %s %s: %+v, %v", method, p, es, err)
					}
					e := es[0]
					if e.Who != c.name || e.Role != c.Role || e.Via != "token" || e.Action != rt.pattern || e.Status != want || e.ClientIP != "192.0.2.7" {
						t.Errorf("%s %s by %s: audit entry %+v", method, p, c.name, e)
					}
					if strings.Contains(rt.pattern, "{app}") && e.App != app {
						t.Errorf("%s %s by %s: audit entry names app %q", method, p, c.name, e.App)
					}
				}
			}
		}
		// No token, or a wrong one: 401 before anything else.
		for _, secret := range []string{"", "pier_wrong"} {
			req := httptest.NewRequest(method, strings.ReplaceAll(path, "{app}", "shop"), nil)
			req.RemoteAddr = fmt.Sprintf("198.51.100.%d:1", i) // a few failures each: not slowed
			if secret != "" {
				req.Header.Set("Authorization", "Bearer "+secret)
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s with token %q: %d, want 401", rt.pattern, secret, w.Code)
			}
		}
	}
	if es, _ := a.store.Audit(store.AuditFilter{}); len(es) != changes {
		t.Errorf("the audit log holds %d entries after %d changes (reads are not audited, every change is)", len(es), changes)
	}
}

// TestRoutesAreAllInTheTable: the API's mux serves exactly apiRoutes (and
// the unauthenticated endpoints it names), so no route escapes the walk.
func TestRoutesAreAllInTheTable(t *testing.T) {
	a := accessAgent(t)
	a.hook.URL = func() string { return "" }
	a.git = &gitserver.Server{}
	mux := a.routes().(*http.ServeMux)
	open := []string{"GET /healthz", "GET /readyz", "POST /internal/push", "GET /slugs/{file}", "/git/", "/dashboard/"} // the dashboard checks its own sessions and calls these routes
	for _, rt := range apiRoutes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		req := httptest.NewRequest(method, strings.NewReplacer("{app}", "shop", "{id}", "x", "{fp}", "x", "{host}", "x").Replace(path), nil)
		if _, pattern := mux.Handler(req); pattern != rt.pattern {
			t.Errorf("%s is served by %q", rt.pattern, pattern)
		}
	}
	for _, p := range open {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			method, path = "GET", p+"x.git/info/refs"
		}
		req := httptest.NewRequest(method, strings.ReplaceAll(path, "{file}", "x"), nil)
		if _, pattern := mux.Handler(req); pattern != p {
			t.Errorf("%s is served by %q", p, pattern)
		}
	}
}

// TestGitChecksItsRole: git over HTTP (a token as the password) and over
// SSH (a key) allow a fetch with read and a push with deploy, on the
// caller's apps only, as the docs' table says.
func TestGitChecksItsRole(t *testing.T) {
	a := accessAgent(t)
	docs := docsRoles(t)
	for _, c := range callers {
		tok, err := a.store.CreateToken(c.name, c.Grant, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		sk, _ := ssh.NewPublicKey(pub)
		line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sk)))
		if _, err := a.store.AddKey(c.name, line, c.Grant); err != nil {
			t.Fatal(err)
		}
		for _, app := range []string{"shop", "blog"} {
			for _, push := range []bool{false, true} {
				what := "git fetch"
				if push {
					what = "git push"
				}
				want := expect(t, docs[what], c, app)

				req := httptest.NewRequest("GET", "/git/"+app+".git/info/refs", nil)
				req.SetBasicAuth("git", tok.Secret)
				w := httptest.NewRecorder()
				_, ok := a.gitAuthorize(w, req, app, push)
				got := 200
				if !ok {
					got = w.Code
				}
				if got != want {
					t.Errorf("%s %s over HTTP by %s: %d %q, want %d", what, app, c.name, got, w.Body.String(), want)
				}
				if want == 404 && !strings.Contains(w.Body.String(), "does not exist") {
					t.Errorf("%s %s over HTTP by %s: %q, want the words of an app that does not exist", what, app, c.name, w.Body.String())
				}

				err := a.sshPermit(sk, app, push)
				if (err == nil) != (want == 200) {
					t.Errorf("%s %s over SSH by %s: %v, want %d", what, app, c.name, err, want)
				}
				if want == 404 && (err == nil || !strings.Contains(err.Error(), "does not exist")) {
					t.Errorf("%s %s over SSH by %s: %v, want the words of an app that does not exist", what, app, c.name, err)
				}
			}
		}
	}
	// The hook's own credential is no API token.
	req := httptest.NewRequest("GET", "/git/shop.git/info/refs", nil)
	req.SetBasicAuth("git", "hook-secret")
	w := httptest.NewRecorder()
	if _, ok := a.gitAuthorize(w, req, "shop", false); ok || w.Code != 401 {
		t.Errorf("the hook token over git HTTP: %v %d, want 401", ok, w.Code)
	}
}
