package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/dashboard"
)

// hostileCommit is a commit message a page must show as text.
const hostileCommit = `<script>alert("pwned")</script> & "quotes"`

// TestDashboardSecurity drives the dashboard of a real agent over plain
// HTTP, as a browser would and as an attacker would: headers, cookies,
// CSRF, escaping, a read token's limits, sessions and login links.
func TestDashboardSecurity(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "shop")
	repo := newPrebuiltRepo(t, "one")
	repo.remote(a, "shop", a.token)
	mustPush(t, repo, "Released v1")
	repo.rebuild("two")
	repo.commit(hostileCommit)
	mustPush(t, repo, "Released v2")

	c := newDashClient(t, a)

	// Headers of every page, signed in or not.
	code, _, h := c.get("/dashboard/login")
	if code != http.StatusOK || h.Get("Content-Security-Policy") != dashboard.CSP || h.Get("X-Frame-Options") != "DENY" {
		t.Errorf("login page: %d, CSP %q, X-Frame-Options %q", code, h.Get("Content-Security-Policy"), h.Get("X-Frame-Options"))
	}
	if !strings.Contains(dashboard.CSP, "script-src 'self'") || strings.Contains(dashboard.CSP, "unsafe-inline") {
		t.Errorf("the CSP allows more than the dashboard's own scripts: %s", dashboard.CSP)
	}
	if code, _, h := c.get("/dashboard/"); code != http.StatusSeeOther || h.Get("Location") != "/dashboard/login" {
		t.Errorf("the apps page before sign-in: %d to %q, want 303 to the sign-in page", code, h.Get("Location"))
	}

	// A wrong token signs nobody in; a login form without its CSRF token
	// is refused.
	if code, body, h := c.signIn("not-a-token"); code != http.StatusUnauthorized || h.Get("Set-Cookie") != "" && strings.Contains(h.Get("Set-Cookie"), "pier_session=") || !strings.Contains(body, "not valid") {
		t.Errorf("sign-in with a wrong token: %d, cookies %q\n%s", code, h.Values("Set-Cookie"), body)
	}
	c.get("/dashboard/login")
	if code, _, _ := c.post("/dashboard/login", "", url.Values{"token": {a.token}}); code != http.StatusForbidden {
		t.Errorf("sign-in without the form's CSRF token: %d, want 403", code)
	}

	// The session cookie: HttpOnly, SameSite=Strict, a random id, never
	// the token.
	code, body, h := c.signIn(a.token)
	if code != http.StatusSeeOther {
		t.Fatalf("sign-in with the admin token: %d\n%s", code, body)
	}
	var session *http.Cookie
	for _, ck := range (&http.Response{Header: h}).Cookies() {
		if ck.Name == "pier_session" {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/dashboard" || session.Secure {
		t.Fatalf("the session cookie = %+v, want HttpOnly, SameSite=Strict, Path=/dashboard, not Secure over plain HTTP", session)
	}
	if strings.Contains(session.Value, a.token) || len(session.Value) < 40 {
		t.Errorf("the session cookie %q holds the token or is short", session.Value)
	}

	// Escaping: the commit message is text on the app page.
	code, body, _ = c.get("/dashboard/apps/shop")
	if code != http.StatusOK || !strings.Contains(body, "v2") {
		t.Fatalf("the app page: %d\n%s", code, body)
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, `alert("pwned")`) {
		t.Errorf("the app page holds the commit message unescaped:\n%s", body)
	}
	if code, body, _ := c.get("/dashboard/apps/shop/rollback/v1"); code != http.StatusOK || strings.Contains(body, "<script>") || !strings.Contains(body, "Roll back to v1") {
		t.Errorf("the rollback page: %d\n%s", code, body)
	}

	// A config value with script in it is masked, and text when revealed.
	a.mustPier("config", "set", "-a", "shop", "HOSTILE=<script>alert(2)</script>")
	if _, body, _ := c.get("/dashboard/apps/shop"); strings.Contains(body, "alert(2)") {
		t.Errorf("the app page shows an unrevealed config value:\n%s", body)
	}
	if _, body, _ := c.get("/dashboard/apps/shop?reveal=HOSTILE"); strings.Contains(body, "<script>alert(2)") || !strings.Contains(body, "&lt;script&gt;alert(2)") {
		t.Errorf("the revealed value is not escaped text:\n%s", body)
	}

	// The control host pier.<domain> serves the dashboard through the edge.
	code, body, h = a.tryGetOK(t, "pier.localhost", "/dashboard/login")
	if code != http.StatusOK || h.Get("Content-Security-Policy") != dashboard.CSP || !strings.Contains(body, "Sign in") {
		t.Errorf("the dashboard on the control host: %d, CSP %q", code, h.Get("Content-Security-Policy"))
	}

	// A config key with script in it: the API refuses it, the page says
	// so as text, nothing changes.
	before := releasesOf(t, a, "shop")
	code, body, _ = c.post("/dashboard/apps/shop/config", "", url.Values{"csrf": {c.csrf}, "key": {`<script>alert(1)</script>`}, "value": {"x"}})
	if code != http.StatusBadRequest || strings.Contains(body, "<script>alert(1)") || !strings.Contains(body, "&lt;script&gt;") {
		t.Errorf("a hostile config key: %d\n%s", code, body)
	}

	// CSRF: a change without the session's token, or from another
	// origin, is refused and changes nothing.
	good := c.csrf
	if code, _, _ := c.post("/dashboard/apps/shop/config", "", url.Values{"key": {"FORGED"}, "value": {"1"}}); code != http.StatusForbidden {
		t.Errorf("a config change without the CSRF token: %d, want 403", code)
	}
	if code, _, _ := c.post("/dashboard/apps/shop/config", "", url.Values{"csrf": {"forged"}, "key": {"FORGED"}, "value": {"1"}}); code != http.StatusForbidden {
		t.Errorf("a config change with a forged CSRF token: %d, want 403", code)
	}
	if code, _, _ := c.post("/dashboard/apps/shop/rollback/v1", "http://evil.example", url.Values{"csrf": {good}}); code != http.StatusForbidden {
		t.Errorf("a rollback posted from another origin: %d, want 403", code)
	}
	if after := releasesOf(t, a, "shop"); len(after) != len(before) {
		t.Errorf("refused changes made releases: %d before, %d after", len(before), len(after))
	}
	if r := a.pier("config", "get", "-a", "shop", "FORGED"); r.code == 0 {
		t.Errorf("a forged form set FORGED: %s", r.stdout)
	}

	// Logs: the router's line of a request, found by process and search;
	// a bad since is a clear error.
	a.get("shop", "/dash-probe")
	waitFor(t, 10*time.Second, "the router's line on the logs page", func() bool {
		_, body, _ := c.get("/dashboard/apps/shop/logs?process=router&grep=dash-probe&since=10m")
		return strings.Contains(body, "dash-probe")
	})
	if _, body, _ := c.get("/dashboard/apps/shop/logs?process=web&grep=dash-probe"); strings.Contains(body, "path=") {
		t.Errorf("the web process's logs hold the router's lines:\n%s", body)
	}
	if code, body, _ := c.get("/dashboard/apps/shop/logs?since=yesterday"); code != http.StatusBadRequest || !strings.Contains(body, "neither a duration") {
		t.Errorf("logs since=yesterday: %d\n%s", code, body)
	}

	// Scale through the form: a bad count changes nothing, a good one
	// changes the formation.
	c.get("/dashboard/apps/shop")
	if code, body, _ := c.post("/dashboard/apps/shop/scale", "", url.Values{"csrf": {c.csrf}, "type": {"web"}, "count": {"-1"}}); code != http.StatusBadRequest || !strings.Contains(body, "whole number") {
		t.Errorf("scale web=-1: %d\n%s", code, body)
	}
	if code, _, _ := c.post("/dashboard/apps/shop/scale", "", url.Values{"csrf": {c.csrf}, "type": {"web"}, "count": {"2"}}); code != http.StatusSeeOther {
		t.Errorf("scale web=2: %d", code)
	}
	if f := appOf(t, a, "shop").Formation; f["web"] != 2 {
		t.Errorf("after scaling in the dashboard the formation is %v, want web=2", f)
	}

	// An unknown app: a clear 404 page.
	if code, body, _ := c.get("/dashboard/apps/nope"); code != http.StatusNotFound || !strings.Contains(body, `app &#34;nope&#34; not found`) {
		t.Errorf("an unknown app: %d\n%s", code, body)
	}
	if code, body, _ := c.get("/dashboard/apps/shop/rollback/v99"); code != http.StatusNotFound || !strings.Contains(body, "no release v99") {
		t.Errorf("an unknown release: %d\n%s", code, body)
	}

	// A read token sees no rollback button and no config values; a forged
	// POST with its own session's CSRF token is refused by the API.
	var reader api.Token
	mustJSON(t, a.mustPier("tokens", "create", "--json", "--role", "read", "viewer"), &reader)
	rc := newDashClient(t, a)
	rc.mustSignIn(reader.Secret)
	code, body, _ = rc.get("/dashboard/apps/shop")
	if code != http.StatusOK || strings.Contains(body, "Roll back to") || strings.Contains(body, `action="/dashboard/apps/shop/config"`) || strings.Contains(body, "reveal") {
		t.Errorf("the app page of a read token shows changes it may not make: %d\n%s", code, body)
	}
	liveBefore := appOf(t, a, "shop").LiveRelease
	code, body, _ = rc.post("/dashboard/apps/shop/rollback/v1", "", url.Values{"csrf": {rc.csrf}})
	if code != http.StatusForbidden || !strings.Contains(body, "needs deploy") {
		t.Errorf("a read token's forged rollback: %d\n%s", code, body)
	}
	if app := appOf(t, a, "shop"); app.LiveRelease != liveBefore {
		t.Errorf("after the read token's rollback the live release is v%d, want v%d", app.LiveRelease, liveBefore)
	}

	// Sign-out ends the session on the server: the old cookie opens
	// nothing and changes nothing.
	stale := newDashClient(t, a)
	stale.http.Jar.SetCookies(mustURL(t, c.base+"/dashboard/"), []*http.Cookie{{Name: "pier_session", Value: session.Value, Path: "/dashboard"}})
	if code, _, _ := c.post("/dashboard/logout", "", url.Values{"csrf": {good}}); code != http.StatusSeeOther {
		t.Errorf("sign-out: %d", code)
	}
	if code, _, h := stale.get("/dashboard/apps/shop"); code != http.StatusSeeOther || h.Get("Location") != "/dashboard/login" {
		t.Errorf("the app page with an ended session: %d to %q", code, h.Get("Location"))
	}
	if code, _, _ := stale.post("/dashboard/apps/shop/config", "", url.Values{"csrf": {good}, "key": {"STALE"}, "value": {"1"}}); code != http.StatusUnauthorized {
		t.Errorf("a change with an ended session: %d, want 401", code)
	}

	// A login link from `pier dashboard` signs in once, and only by its
	// page's button: opening the link (a GET another site can make a
	// browser do) signs nobody in, nor does a post from another site.
	var link struct {
		URL string `json:"url"`
	}
	mustJSON(t, a.mustPier("dashboard", "--json"), &link)
	if !strings.HasPrefix(link.URL, c.base+"/dashboard/link/") || strings.Contains(link.URL, a.token) {
		t.Fatalf("pier dashboard printed %q", link.URL)
	}
	lc := newDashClient(t, a)
	path := strings.TrimPrefix(link.URL, c.base)
	code, body, h = lc.get(path)
	if code != http.StatusOK || strings.Contains(strings.Join(h.Values("Set-Cookie"), " "), "pier_session=") ||
		!strings.Contains(body, `id="signin-link"`) || !strings.Contains(body, "with the token <b>admin</b>") {
		t.Errorf("the login link's page: %d, cookies %q\n%s", code, h.Values("Set-Cookie"), body)
	}
	if code, _, h := lc.get("/dashboard/"); code != http.StatusSeeOther || h.Get("Location") != "/dashboard/login" {
		t.Errorf("the apps page after only opening the login link: %d to %q, want the sign-in page", code, h.Get("Location"))
	}
	if code, _, h := lc.post(path, "http://evil.example", url.Values{"csrf": {lc.csrf}}); code != http.StatusForbidden || strings.Contains(strings.Join(h.Values("Set-Cookie"), " "), "pier_session=") {
		t.Errorf("the login link posted from another site: %d, cookies %q, want 403 and no session", code, h.Values("Set-Cookie"))
	}
	if code, _, _ := newDashClient(t, a).post(path, "", url.Values{"csrf": {lc.csrf}}); code != http.StatusForbidden {
		t.Errorf("the login link posted without its page's cookie: %d, want 403", code)
	}
	if code, _, h := lc.post(path, "", url.Values{"csrf": {lc.csrf}}); code != http.StatusSeeOther || h.Get("Location") != "/dashboard/" {
		t.Errorf("the login link's button: %d to %q", code, h.Get("Location"))
	}
	if code, body, _ := lc.get("/dashboard/"); code != http.StatusOK || !strings.Contains(body, `data-app="shop"`) {
		t.Errorf("the apps page after the login link: %d\n%s", code, body)
	}
	if code, _, _ := newDashClient(t, a).get(path); code != http.StatusUnauthorized {
		t.Errorf("the login link used twice: %d, want 401", code)
	}
}

// tryGetOK is tryGet that fails the test on a transport error.
func (a *agentProc) tryGetOK(t *testing.T, host, path string) (int, string, http.Header) {
	t.Helper()
	code, body, h, err := a.tryGet(host, path)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	return code, body, h
}

func appOf(t *testing.T, a *agentProc, name string) api.App {
	t.Helper()
	var app api.App
	a.pierJSON(&app, "apps", "info", "-a", name)
	return app
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
