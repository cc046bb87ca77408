package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// dashClient is a browser-like HTTP client of the dashboard: cookies,
// the Origin a browser sends on a POST, and the CSRF token of the last
// page it read.
type dashClient struct {
	t    *testing.T
	base string // http://API_ADDR
	http *http.Client
	csrf string
}

func newDashClient(t *testing.T, a *agentProc) *dashClient {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	return &dashClient{t: t, base: "http://" + a.apiAddr, http: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// do sends a request and returns its status, body and headers; it keeps
// the page's CSRF token.
func (c *dashClient) do(req *http.Request) (int, string, http.Header) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if m := csrfRE.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return resp.StatusCode, string(b), resp.Header
}

func (c *dashClient) get(path string) (int, string, http.Header) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	return c.do(req)
}

// post posts form from this dashboard's origin (origin "": as a browser
// would; else that Origin).
func (c *dashClient) post(path, origin string, form url.Values) (int, string, http.Header) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if origin == "" {
		origin = c.base
	}
	req.Header.Set("Origin", origin)
	return c.do(req)
}

// signIn signs in through the login form with token.
func (c *dashClient) signIn(token string) (int, string, http.Header) {
	c.t.Helper()
	if code, _, _ := c.get("/dashboard/login"); code != http.StatusOK {
		c.t.Fatalf("GET /dashboard/login: %d", code)
	}
	return c.post("/dashboard/login", "", url.Values{"csrf": {c.csrf}, "token": {token}})
}

func (c *dashClient) mustSignIn(token string) {
	c.t.Helper()
	code, body, h := c.signIn(token)
	if code != http.StatusSeeOther || h.Get("Location") != "/dashboard/" {
		c.t.Fatalf("sign-in: %d %s\n%s", code, h.Get("Location"), body)
	}
}
