package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// required reports whether PIER_REQUIRE names the binary, in which case a
// missing binary fails the test instead of skipping it.
func required(name string) bool {
	for _, n := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(n) == name {
			return true
		}
	}
	return false
}

func chromium(t *testing.T) string {
	t.Helper()
	path, err := FindChromium()
	if err != nil {
		if required("chromium") {
			t.Fatalf("%v (PIER_REQUIRE names chromium)", err)
		}
		t.Skip(err)
	}
	return path
}

// appURL returns SAMPLE_APP_URL, or starts the app from this checkout on a
// free port and returns its URL.
func appURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("SAMPLE_APP_URL"); u != "" {
		return u
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH and SAMPLE_APP_URL is unset: nothing to test")
	}
	bin := filepath.Join(t.TempDir(), "web")
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/web")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the app: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = []string{fmt.Sprintf("PORT=%d", port), "PIER_RELEASE=v42", "PIER_SLOT=blue"}
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(15 * time.Second); ; {
		resp, err := client.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app never became healthy at %s: %v\n%s", url, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPage loads the page, submits a text and checks what a user sees.
// SAMPLE_APP_URL tests a deployment instead of a local app;
// SAMPLE_APP_BANNER, when set, is the banner text to expect there.
func TestPage(t *testing.T) {
	browser := chromium(t)
	url := appURL(t)
	text := "I love this new phone. The camera takes stunning photos and the battery lasts all day. Setup was quick and easy."
	r, err := Analyze(context.Background(), browser, url, text, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "Text Lens" {
		t.Errorf("title %q, want Text Lens", r.Title)
	}
	wantBanner := os.Getenv("SAMPLE_APP_BANNER")
	if wantBanner == "" && os.Getenv("SAMPLE_APP_URL") == "" {
		wantBanner = "Release v42 · slot blue"
	}
	if wantBanner != "" && strings.TrimSpace(r.Banner) != wantBanner {
		t.Errorf("banner %q, want %q", r.Banner, wantBanner)
	}
	// The page capitalises labels with CSS; compare what is shown, ignoring case.
	if !strings.EqualFold(r.Sentiment, "positive") || !strings.EqualFold(r.Topic, "technology") {
		t.Errorf("page shows %q / %q, want positive / technology", r.Sentiment, r.Topic)
	}
	if len(r.Summary) == 0 {
		t.Error("page shows no summary")
	}
	if !bytes.HasPrefix(r.Screenshot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(r.Screenshot))
	}
	shot := filepath.Join(t.TempDir(), "page.png")
	if dir := os.Getenv("SAMPLE_APP_SCREENSHOT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		shot = filepath.Join(dir, "text-lens.png")
	}
	if err := os.WriteFile(shot, r.Screenshot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("banner %q, result %s/%s, screenshot %s", r.Banner, r.Sentiment, r.Topic, shot)
}

func TestFindChromiumHonoursEnv(t *testing.T) {
	t.Setenv("CHROMIUM", "/nonexistent/chromium")
	if p, err := FindChromium(); err != nil || p != "/nonexistent/chromium" {
		t.Errorf("FindChromium = %q, %v", p, err)
	}
	t.Setenv("CHROMIUM", "")
	t.Setenv("PATH", t.TempDir())
	if _, err := FindChromium(); !errors.Is(err, ErrNoChromium) {
		t.Errorf("with an empty PATH: %v", err)
	}
}
