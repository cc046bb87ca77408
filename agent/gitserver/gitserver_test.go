package gitserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
)

func TestHTTPRefusesDotSegments(t *testing.T) {
	requireBinary(t, "git")
	srv := &Server{
		Root:      filepath.Join(t.TempDir(), "repos"),
		Authorize: func(http.ResponseWriter, *http.Request, string, bool) (string, bool) { return "alice", true },
		AppExists: func(app string) bool { return app == "hello" || app == "other" },
		Logf:      t.Logf,
	}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	get := func(path string) (int, string) {
		t.Helper()
		// Go's client sends the path as written, dots and all.
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/git/hello.git/info/refs?service=git-upload-pack"); code != 200 {
		t.Fatalf("a fetch's first request = %d %q, want 200", code, body)
	}
	for _, path := range []string{
		"/git/hello.git/../other.git/info/refs?service=git-upload-pack",
		"/git/hello.git/objects/../../other.git/HEAD",
		"/git/hello.git/%2e%2e/other.git/HEAD",
		"/git/hello.git/./HEAD",
		"/git/hello.git/objects/..",
		"/git/hello.git/objects%5c..%5cHEAD",
	} {
		code, body := get(path)
		if code != http.StatusBadRequest || !strings.Contains(body, "use /git/APP.git/...") {
			t.Errorf("GET %s = %d %q, want 400 and why", path, code, body)
		}
	}
}
