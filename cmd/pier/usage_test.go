package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestUsageAnalytics: visitors from distinct client addresses (loopback
// addresses of their own, as X-Forwarded-For is not trusted) are counted
// within the sketch's error by `pier usage` and on the dashboard; the
// counts survive a restart; no address is written to the data dir
// outside the router's log (whose lines carry fwd=, as Heroku's do).
func TestUsageAnalytics(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "shop")
	repo := newPrebuiltRepo(t, "one")
	repo.remote(a, "shop", a.token)
	mustPush(t, repo, "Released v1")

	const visitors, each = 40, 3
	var addrs []string
	for i := range visitors {
		ip := fmt.Sprintf("127.0.0.%d", 200+i)
		addrs = append(addrs, ip)
		for range each {
			if code := getFrom(t, ip, a.httpAddr, "shop.localhost", "/"); code != http.StatusOK {
				t.Fatalf("GET from %s: %d", ip, code)
			}
		}
	}
	getFrom(t, addrs[0], a.httpAddr, "shop.localhost", "/no-such-page")

	var u api.AppUsage
	a.pierJSON(&u, "usage", "-a", "shop")
	if len(u.Days) != 1 || u.Days[0].Day != time.Now().UTC().Format(time.DateOnly) {
		t.Fatalf("pier usage: %+v", u)
	}
	d := u.Days[0]
	if d.Requests < visitors*each+1 || d.Visitors < visitors-1 || d.Visitors > visitors+1 || d.Bytes == 0 {
		t.Errorf("today: %d requests, ~%d visitors, %d bytes; want %d requests at least and %d visitors (±1)", d.Requests, d.Visitors, d.Bytes, visitors*each+1, visitors)
	}
	if len(d.Statuses) == 0 || d.Statuses[0].Code != http.StatusOK {
		t.Errorf("top statuses: %+v", d.Statuses)
	}
	t.Logf("today: %d requests, ~%d visitors from %d addresses, %d bytes, top %+v", d.Requests, d.Visitors, visitors, d.Bytes, d.Statuses)
	table := a.mustPier("usage", "-a", "shop")
	if !strings.Contains(table, "VISITORS") || !strings.Contains(table, fmt.Sprintf("~%d", d.Visitors)) {
		t.Errorf("pier usage printed:\n%s", table)
	}
	if r := a.pier("usage", "-a", "shop", "--days", "0"); r.code == 0 || !strings.Contains(r.stderr, "--days") {
		t.Errorf("pier usage --days 0: exit %d\n%s", r.code, r.stderr)
	}

	c := newDashClient(t, a)
	c.mustSignIn(a.token)
	if _, body, _ := c.get("/dashboard/apps/shop"); !strings.Contains(body, fmt.Sprintf(`<td class="visitors">~%d</td>`, d.Visitors)) {
		t.Errorf("the app page's usage:\n%s", section(body, `id="usage"`))
	}

	// A restart keeps the day's counts (saved when the agent stops).
	a.stop()
	for _, ip := range addrs {
		if path, ok := holds(t, a.dataDir, ip, filepath.Join(a.dataDir, "logs")); ok {
			t.Errorf("%s holds the client address %s", path, ip)
		}
	}
	a.start()
	var after api.AppUsage
	a.pierJSON(&after, "usage", "-a", "shop")
	if len(after.Days) != 1 || after.Days[0].Requests != d.Requests || after.Days[0].Visitors != d.Visitors {
		t.Errorf("after a restart: %+v, before %+v", after.Days, d)
	}
}

// getFrom requests path of host through the proxy at addr from the local
// address ip, and returns the status.
func getFrom(t *testing.T, ip, addr, host, path string) int {
	t.Helper()
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s from %s: %v", path, ip, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// holds reports a file under dir (but not under skip) that contains s.
func holds(t *testing.T, dir, s, skip string) (string, bool) {
	t.Helper()
	var found string
	_ = filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return nil
		}
		if e.IsDir() && p == skip {
			return filepath.SkipDir
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(s)) {
			found = p
		}
		return nil
	})
	return found, found != ""
}

// section is the part of a page from marker on, for a failure's message.
func section(body, marker string) string {
	if i := strings.Index(body, marker); i >= 0 {
		return body[i:min(len(body), i+2000)]
	}
	return body
}
