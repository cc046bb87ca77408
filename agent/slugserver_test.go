package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/scheduler"
	"github.com/pierhq/pier/scheduler/nomad"
)

// TestSlugURLs: a Nomad client fetches a slug with the signed URL the
// agent hands out, and nothing else opens it.
func TestSlugURLs(t *testing.T) {
	dir := t.TempDir()
	a := &Agent{cfg: Config{Scheduler: "nomad"}, dirs: newDirs(dir), key: make([]byte, 32)}
	a.sched = &swapScheduler{s: nomadStub{SlugSigner: nomad.SlugSigner{Key: a.slugKey()}}}
	if err := os.MkdirAll(a.dirs.slugs, 0o700); err != nil {
		t.Fatal(err)
	}
	id := strings.Repeat("ab", 32)
	if err := os.WriteFile(filepath.Join(a.dirs.slugs, id+".tar.gz"), []byte("slug bytes"), 0o600); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /slugs/{file}", a.serveSlug)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	a.apiURL = srv.URL

	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	u := a.slugURL(id)
	if code, body := get(u); code != 200 || body != "slug bytes" {
		t.Fatalf("GET the signed URL = %d %q, want the slug", code, body)
	}
	if code, _ := get(strings.Replace(u, "sig=", "sig=00", 1)); code != http.StatusForbidden {
		t.Errorf("a tampered signature got %d, want 403", code)
	}
	if code, _ := get(srv.URL + "/slugs/" + id + ".tar.gz"); code != http.StatusForbidden {
		t.Errorf("an unsigned URL got %d, want 403", code)
	}
	other := strings.Repeat("cd", 32)
	if code, _ := get(strings.Replace(u, id, other, 1)); code != http.StatusForbidden {
		t.Errorf("another slug with this signature got %d, want 403", code)
	}
	a.cfg.AdvertiseAddr = "10.0.0.5:7070"
	if u := a.slugURL(id); !strings.HasPrefix(u, "http://10.0.0.5:7070/slugs/"+id+".tar.gz?") {
		t.Errorf("with an advertise address the URL is %s", u)
	}
	a.cfg.Scheduler = "local"
	a.sched = &swapScheduler{s: localStub{}}
	if u := a.slugURL(id); u != "" {
		t.Errorf("the local scheduler got a slug URL %s", u)
	}
}

// nomadStub is a scheduler that signs slug URLs as nomad's does; localStub
// one that does not, as local.
type (
	nomadStub struct {
		scheduler.Scheduler
		nomad.SlugSigner
	}
	localStub struct{ scheduler.Scheduler }
)
