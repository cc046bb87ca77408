package static_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

func TestMain(m *testing.M) { buildpacktest.Main(m, nil) }

func TestSuite(t *testing.T) {
	bp := buildpacktest.Plugin(t, "static")
	buildpacktest.Run(t, bp, []buildpacktest.Fixture{
		{Name: "public dir", Dir: "../testdata/static-app", Detect: true, Check: checkSite},
		{Name: "not static", Dir: "../testdata/procfile-app"},
	})
}

func checkSite(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	if got := res.DefaultProcesses["web"]; got != "pier static-serve public" {
		t.Fatalf("web = %q", got)
	}
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("TOP-SECRET"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "public", "leak.txt")); err != nil {
		t.Fatal(err)
	}
	url := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"])

	resp, body := buildpacktest.Get(t, url+"/")
	if resp.StatusCode != 200 || !strings.Contains(body, "Hello from a static site") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, body)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("HTML Cache-Control = %q, want no-cache", cc)
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := buildpacktest.Get(t, url+"/", "If-None-Match", etag); etag == "" || resp.StatusCode != http.StatusNotModified {
		t.Errorf("revalidating with ETag %q = %d, want 304", etag, resp.StatusCode)
	}

	resp, body = buildpacktest.Get(t, url+"/assets/app.js", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || !strings.Contains(resp.Header.Get("Cache-Control"), "max-age") {
		t.Errorf("app.js headers = %v, want gzip and max-age", resp.Header)
	}
	if len(body) == 0 || strings.Contains(body, "console.log") {
		t.Errorf("app.js was not compressed (%d bytes)", len(body))
	}

	if resp, body := buildpacktest.Get(t, url+"/no/such/page"); resp.StatusCode != 404 || !strings.Contains(body, "Not here") {
		t.Errorf("unknown path = %d %q, want the site's 404.html", resp.StatusCode, body)
	}
	if resp, body := buildpacktest.Get(t, url+"/leak.txt"); resp.StatusCode != 404 || strings.Contains(body, "TOP-SECRET") {
		t.Errorf("a symlink out of the site was served: %d %q", resp.StatusCode, body)
	}

	spa := buildpacktest.StartWeb(t, dir, res.DefaultProcesses["web"], "PIER_STATIC_SPA=1")
	if resp, body := buildpacktest.Get(t, spa+"/app/settings"); resp.StatusCode != 200 || !strings.Contains(body, "Hello from a static site") {
		t.Errorf("SPA fallback = %d %q", resp.StatusCode, body)
	}
	if resp, _ := buildpacktest.Get(t, spa+"/missing.png"); resp.StatusCode != 404 {
		t.Errorf("SPA fallback answered a missing asset with %d", resp.StatusCode)
	}
}
