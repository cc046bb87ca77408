package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

const testToken = "s3cret-token"

// request is what the fake agent received.
type request struct {
	Method, Path, Query, Auth string
	Body                      []byte
}

// fakeAgent is an httptest server that answers the API routes a test
// registers and records every request. It refuses calls without the token.
type fakeAgent struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []request
	routes map[string]http.HandlerFunc
}

func newFakeAgent(t *testing.T) *fakeAgent {
	t.Helper()
	fa := &fakeAgent{routes: map[string]http.HandlerFunc{}}
	fa.Server = httptest.NewServer(http.HandlerFunc(fa.serve))
	t.Cleanup(fa.Close)
	// Every test starts with no saved login, no app and this agent.
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("PIER_API", fa.URL)
	t.Setenv("PIER_TOKEN", testToken)
	t.Setenv("PIER_APP", "")
	return fa
}

func (fa *fakeAgent) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	fa.mu.Lock()
	fa.reqs = append(fa.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization"), body})
	h, ok := fa.routes[r.Method+" "+r.URL.Path]
	fa.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+testToken {
		w.WriteHeader(http.StatusUnauthorized)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "invalid or missing API token"})
		return
	}
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "no route " + r.Method + " " + r.URL.Path})
		return
	}
	h(w, r)
}

// handle answers METHOD PATH with v as JSON.
func (fa *fakeAgent) handle(route string, v any) {
	fa.handleFunc(route, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	})
}

func (fa *fakeAgent) handleFunc(route string, h http.HandlerFunc) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.routes[route] = h
}

func (fa *fakeAgent) requests() []request {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return append([]request(nil), fa.reqs...)
}

// only returns the one request the agent got, failing otherwise.
func (fa *fakeAgent) only(t *testing.T) request {
	t.Helper()
	rs := fa.requests()
	if len(rs) != 1 {
		t.Fatalf("agent got %d requests, want 1: %+v", len(rs), rs)
	}
	return rs[0]
}

// pier runs the command line and returns stdout, stderr and the error.
func pier(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return pierCtx(context.Background(), t, args...)
}

func pierCtx(ctx context.Context, t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb syncBuffer
	err := run(ctx, append([]string{"pier"}, args...), &out, &errb)
	return out.String(), errb.String(), err
}

// mustPier runs the command line and fails the test on an error.
func mustPier(t *testing.T, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := pier(t, args...)
	if err != nil {
		t.Fatalf("pier %v: %v\nstderr: %s", args, err, errOut)
	}
	return out, errOut
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
