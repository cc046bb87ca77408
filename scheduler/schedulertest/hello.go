// Package schedulertest holds the behaviour tests every scheduler.Scheduler
// must pass, run against real processes of a tiny Go web app built by the
// test (Run), and the helpers they use.
package schedulertest

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/scheduler"
)

// helloMain is the app the tests deploy. As "web" it serves:
//
//	/env        its environment as JSON
//	/log?m=TEXT prints "hello says TEXT"
//	/crash      exits with status 3
//	/grow?mb=N  takes N MiB more memory and holds it
//
// and prints "hello request PATH" for each request. As "worker" it prints
// "worker tick N" five times a second.
const helloMain = `package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

var hoard [][]byte

func main() {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		for i := 0; ; i++ {
			fmt.Println("worker tick", i)
			time.Sleep(200 * time.Millisecond)
		}
	}
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		wd, _ := os.Getwd()
		env["_CWD"] = wd
		json.NewEncoder(w).Encode(env)
	})
	http.HandleFunc("/log", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("hello says", r.URL.Query().Get("m"))
	})
	http.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("hello crashing")
		go func() { time.Sleep(50 * time.Millisecond); os.Exit(3) }()
	})
	http.HandleFunc("/grow", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		b := make([]byte, mb<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // resident, page by page
		}
		hoard = append(hoard, b)
		fmt.Fprintln(w, "holding", mb, "MiB more")
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("hello request", r.URL.Path)
		fmt.Fprintln(w, "hello from", os.Getenv("DYNO"))
	})
	fmt.Println("hello listening on", os.Getenv("PORT"))
	if err := http.ListenAndServe(":"+os.Getenv("PORT"), nil); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
}
`

// Slug is a slug made by a test.
type Slug struct {
	Path, SHA256 string
}

// RequireBinary skips the test when name is not on PATH, or fails it when
// PIER_REQUIRE (a comma list) names it.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but not found: %v", name, err)
		}
	}
	t.Skipf("%s not found, skipping: %v", name, err)
	return ""
}

// HelloSlug builds the hello app with go build into a slug: bin/hello.
func HelloSlug(t testing.TB) Slug {
	t.Helper()
	goBin := RequireBinary(t, "go")
	src := t.TempDir()
	write(t, filepath.Join(src, "go.mod"), "module hello\n\ngo 1.22\n")
	write(t, filepath.Join(src, "main.go"), helloMain)
	app := t.TempDir()
	cmd := exec.Command(goBin, "build", "-o", filepath.Join(app, "bin", "hello"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the hello app: %v\n%s", err, out)
	}
	write(t, filepath.Join(app, "Procfile"), "web: bin/hello\nworker: bin/hello worker\n")
	return TarGz(t, app)
}

func write(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TarGz packs dir into a slug (tar.gz) in a temp dir.
func TarGz(t testing.TB, dir string) Slug {
	t.Helper()
	out := filepath.Join(t.TempDir(), "slug.tgz")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	zw := gzip.NewWriter(io.MultiWriter(f, h))
	tw := tar.NewWriter(zw)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatalf("packing %s: %v", dir, err)
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return Slug{Path: out, SHA256: hex.EncodeToString(h.Sum(nil))}
}

// Deployment is a deployment of the hello slug: web and worker types,
// config var GREETING=hi.
func Deployment(app, slot string, release int, slug Slug, f scheduler.Formation) scheduler.Deployment {
	return scheduler.Deployment{
		App: app, Slot: slot, Release: release,
		Slug: slug.Path, SlugSHA256: slug.SHA256,
		Processes: map[string]string{"web": "bin/hello", "worker": "bin/hello worker"},
		Formation: f,
		Env:       map[string]string{"GREETING": "hi"},
	}
}

var client = &http.Client{Timeout: 5 * time.Second}

// Get returns the body of http://addr/path.
func Get(addr, path string) (string, error) {
	resp, err := client.Get("http://" + addr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return string(b), nil
}

// Env returns the environment of the web instance at addr.
func Env(t testing.TB, addr string) map[string]string {
	t.Helper()
	body, err := Get(addr, "/env")
	if err != nil {
		t.Fatalf("GET %s/env: %v", addr, err)
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		t.Fatalf("GET %s/env: %v: %q", addr, err, body)
	}
	return env
}
