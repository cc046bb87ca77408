package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestBrokenBodiesCannotRollBackARelease: anyone on the internet can send
// requests with a broken chunked body. They get 400 and never count against
// the release being watched, so they cannot make it roll back.
func TestBrokenBodiesCannotRollBackARelease(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=6s"}})
	a.mustPier("apps", "create", "steady")
	r := newPrebuiltRepo(t, "steady")
	r.remote(a, "steady", a.token)
	mustPush(t, r, "main")
	a.mustPier("config", "set", "-a", "steady", "FOO=bar") // v2, watched for 6 s
	watched := lastRelease(t, a, "steady")
	for i := range 12 {
		if status := brokenPost(t, a.httpAddr, "steady.localhost"); status != http.StatusBadRequest {
			t.Fatalf("broken POST %d: status %d, want 400", i+1, status)
		}
	}
	time.Sleep(8 * time.Second) // past the watch window
	rel := releaseOf(t, a, "steady", watched.Version)
	if rel.Status != "live" {
		t.Fatalf("v%d is %s after broken requests: %s", rel.Version, rel.Status, rel.Reason)
	}
}

// brokenPost sends a POST whose chunked body has no valid chunk size and
// returns the answer's status.
func brokenPost(t *testing.T, addr, host string) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	req := "POST / HTTP/1.1\r\nHost: " + host + "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
