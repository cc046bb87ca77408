package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSmokeCheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte("<h1>Text Lens</h1> all good"))
		case "/error-page":
			_, _ = w.Write([]byte("<h1>Application error</h1> An error occurred in the application"))
		case "/down":
			http.Error(w, "no instance", http.StatusServiceUnavailable)
		case "/broken":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/login":
			http.Redirect(w, r, "/sign-in", http.StatusFound)
		}
	}))
	defer srv.Close()
	// pier's laptop domain: *.localhost is loopback, as in browsers.
	base := strings.Replace(srv.URL, "127.0.0.1", "shop.localhost", 1)
	ctx := context.Background()
	for _, c := range []struct {
		path, text string
		want       string // "" passes
		transient  bool
	}{
		{"/ok", "Text Lens", "", false},
		{"/ok", "", "", false},
		{"/error-page", "Text Lens", `answered 200 without "Text Lens"`, false},
		{"/down", "", "answered 503", true},
		{"/broken", "", "answered 500", false},
		{"/login", "", "answered 302", false},
	} {
		err := smokeCheck{path: c.path, text: c.text}.once(ctx, base)
		var te *transientError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("GET %s wanting %q: %v", c.path, c.text, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("GET %s wanting %q: %v, want an error saying %q", c.path, c.text, err, c.want)
		case c.want != "" && errors.As(err, &te) != c.transient:
			t.Errorf("GET %s: transient = %v, want %v", c.path, !c.transient, c.transient)
		}
	}
	// A wrong page fails at once: it is not retried for the whole wait.
	start := time.Now()
	if err := (smokeCheck{path: "/error-page", text: "Text Lens"}).wait(ctx, base, 20*time.Second); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("wait on a wrong page: %v after %s", err, time.Since(start))
	}
}

func TestGitAuthEnv(t *testing.T) {
	env := gitAuthEnv("2", "s3cret")
	want := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("pier:s3cret"))
	got := strings.Join(env, "\n")
	if !strings.Contains(got, "GIT_CONFIG_COUNT=3\n") || !strings.Contains(got, "GIT_CONFIG_KEY_2=http.extraHeader\n") ||
		!strings.Contains(got, "GIT_CONFIG_VALUE_2="+want) || strings.Contains(got, "s3cret") {
		t.Errorf("gitAuthEnv = %q: want the header after the 2 entries there, the token only encoded", env)
	}
}

func TestWriteGitHubOutputs(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(path, []byte("before=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GITHUB_OUTPUT", path)
	if err := writeGitHubOutputs([]ghOutput{{"release", "v3"}, {"status", "failed:\nforged=1"}}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if got := string(b); got != "before=1\nrelease=v3\nstatus=failed: forged=1\n" {
		t.Errorf("GITHUB_OUTPUT holds %q: a value must stay on its line", got)
	}
}
