package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pierhq/pier/sample-app/config"
	"github.com/pierhq/pier/sample-app/data"
	"github.com/pierhq/pier/sample-app/flags"
	"github.com/pierhq/pier/sample-app/nlp"
)

var (
	analyzerOnce sync.Once
	analyzer     *nlp.Analyzer
)

// syncBuffer is a log sink safe for the server's goroutines.
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

func newServer(t *testing.T, env map[string]string) (*httptest.Server, *syncBuffer) {
	t.Helper()
	analyzerOnce.Do(func() {
		var err error
		if analyzer, err = nlp.Train("bayes", data.Texts); err != nil {
			panic(err)
		}
	})
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	logger := log.New(logs, "", 0)
	srv := New(cfg, analyzer, logger)
	var environ []string
	for k, v := range env {
		environ = append(environ, k+"="+v)
	}
	srv.Flags = flags.Load(environ, logger.Printf) // as cmd/web does
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts, logs
}

func post(t *testing.T, url, body string) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/api/analyze", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return resp, out
}

func TestAnalyze(t *testing.T) {
	ts, logs := newServer(t, map[string]string{"PIER_RELEASE": "v7", "PIER_SLOT": "blue"})
	text := "The hotel was wonderful and the beach was beautiful. The staff were kind. We loved the trip."
	resp, out := post(t, ts.URL, fmt.Sprintf(`{"text": %q, "sentences": 2}`, text))
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %v", resp.StatusCode, out)
	}
	sentiment := out["sentiment"].(map[string]any)
	topic := out["topic"].(map[string]any)
	if sentiment["label"] != "positive" || topic["label"] != "travel" {
		t.Errorf("got %v / %v, want positive / travel", sentiment["label"], topic["label"])
	}
	if n := len(out["summary"].([]any)); n != 2 {
		t.Errorf("summary has %d sentences, want 2", n)
	}
	if out["release"] != "Release v7 · slot blue" || out["model"] != "bayes" {
		t.Errorf("release/model: %v / %v", out["release"], out["model"])
	}
	if ms, ok := out["elapsed_ms"].(float64); !ok || ms < 0 || ms > 1000 {
		t.Errorf("elapsed_ms = %v", out["elapsed_ms"])
	}
	if strings.Contains(logs.String(), "wonderful") {
		t.Errorf("request body reached the log:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `path="/api/analyze" status=200`) {
		t.Errorf("no request line in the log:\n%s", logs)
	}
}

func TestAnalyzeRejects(t *testing.T) {
	ts, _ := newServer(t, map[string]string{"MAX_TEXT_BYTES": "100", "RATE_LIMIT_RPS": "0"})
	cases := []struct {
		name, body string
		status     int
		msg        string
	}{
		{"bad json", `{"text": `, 400, "must be JSON"},
		{"not an object", `"hello"`, 400, "must be JSON"},
		{"empty", `{"text": "  "}`, 400, "empty"},
		{"too many sentences", `{"text": "Hi.", "sentences": 50}`, 400, "sentences"},
		{"text too long", fmt.Sprintf(`{"text": %q}`, strings.Repeat("a", 101)), 413, "MAX_TEXT_BYTES"},
		{"body too long", fmt.Sprintf(`{"text": "a", "pad": %q}`, strings.Repeat("a", 2000)), 413, "MAX_TEXT_BYTES"},
	}
	for _, c := range cases {
		resp, out := post(t, ts.URL, c.body)
		if resp.StatusCode != c.status || !strings.Contains(fmt.Sprint(out["error"]), c.msg) {
			t.Errorf("%s: %d %v, want %d with %q", c.name, resp.StatusCode, out, c.status, c.msg)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: content type %q", c.name, ct)
		}
	}
	resp, err := http.Get(ts.URL + "/api/analyze")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/analyze: %d, want 405", resp.StatusCode)
	}
}

func TestRateLimit(t *testing.T) {
	ts, _ := newServer(t, map[string]string{"RATE_LIMIT_RPS": "0.5", "RATE_LIMIT_BURST": "3"})
	body := `{"text": "Nice phone."}`
	for i := 0; i < 3; i++ {
		if resp, out := post(t, ts.URL, body); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d %v", i+1, resp.StatusCode, out)
		}
	}
	resp, out := post(t, ts.URL, body)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(fmt.Sprint(out["error"]), "RATE_LIMIT_RPS") {
		t.Fatalf("4th request: %d %v, want 429", resp.StatusCode, out)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "2" {
		t.Errorf("Retry-After = %q, want 2", ra)
	}
	// Another client behind the proxy has its own bucket.
	req, _ := http.NewRequest("POST", ts.URL+"/api/analyze", strings.NewReader(body))
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	other, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	other.Body.Close()
	if other.StatusCode != 200 {
		t.Errorf("a different forwarded client got %d", other.StatusCode)
	}
	// The page and health checks are never limited.
	for _, path := range []string{"/healthz", "/"} {
		r, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 {
			t.Errorf("%s while limited: %d", path, r.StatusCode)
		}
	}
}

func TestClientIP(t *testing.T) {
	cases := []struct{ remote, xff, want string }{
		{"127.0.0.1:5555", "", "127.0.0.1"},
		{"127.0.0.1:5555", "1.2.3.4, 203.0.113.9", "203.0.113.9"},
		{"10.0.0.2:5555", "198.51.100.1", "198.51.100.1"},
		{"198.51.100.7:5555", "1.2.3.4", "198.51.100.7"}, // a public peer cannot pick its identity
		{"127.0.0.1:5555", "garbage", "127.0.0.1"},
	}
	for _, c := range cases {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := clientIP(r); got != c.want {
			t.Errorf("clientIP(%s, XFF %q) = %s, want %s", c.remote, c.xff, got, c.want)
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPageAndHealth(t *testing.T) {
	ts, _ := newServer(t, map[string]string{"PIER_RELEASE": "v3", "PIER_SLOT": "green"})
	status, body := get(t, ts.URL+"/")
	if status != 200 {
		t.Fatalf("page: %d", status)
	}
	for _, want := range []string{"<title>Text Lens</title>", `<form id="analyze-form"`, `<textarea id="text"`, `id="analyze"`,
		`id="release" class="release">Release v3 · slot green</div>`, `/static/app.js`, "held-out"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Error("page loads something from another origin")
	}
	for _, path := range []string{"/static/app.js", "/static/style.css"} {
		if status, body := get(t, ts.URL+path); status != 200 || len(body) < 100 {
			t.Errorf("%s: %d, %d bytes", path, status, len(body))
		}
	}
	if status, body := get(t, ts.URL+"/healthz"); status != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", status, body)
	}
	if status, _ := get(t, ts.URL+"/nope"); status != 404 {
		t.Errorf("unknown page: %d", status)
	}
	status, body = get(t, ts.URL+"/api/info")
	var info Info
	if err := json.Unmarshal([]byte(body), &info); err != nil || status != 200 {
		t.Fatalf("info: %d %v", status, err)
	}
	if info.Release != "Release v3 · slot green" || info.Stats.HeldOut == 0 || info.Limits.MaxTextBytes != 20000 {
		t.Errorf("info: %+v", info)
	}
}

func TestLocalBanner(t *testing.T) {
	ts, _ := newServer(t, nil)
	if _, body := get(t, ts.URL+"/"); !strings.Contains(body, `class="release local">local</div>`) {
		t.Error("page without PIER_RELEASE does not say local")
	}
}

// TestServeDrainsInFlight sends a request whose body is still arriving when
// shutdown starts: it must complete, and new connections must be refused.
func TestServeDrainsInFlight(t *testing.T) {
	ts, _ := newServer(t, map[string]string{"RATE_LIMIT_RPS": "0"})
	ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg, _ := config.Load(func(string) string { return "" })
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, ln, New(cfg, analyzer, log.New(logs, "", 0)).Handler(), 10*time.Second, log.New(logs, "", 0))
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	body := `{"text": "What a great game, we won!"}`
	fmt.Fprintf(conn, "POST /api/analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	time.Sleep(100 * time.Millisecond) // the handler is now waiting for the body
	cancel()
	time.Sleep(100 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Error("server still accepts connections while draining")
	}
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request cut off: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"positive"`) {
		t.Errorf("in-flight request: %d %s", resp.StatusCode, b)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after draining")
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("logs: %s", logs)
	}
}
