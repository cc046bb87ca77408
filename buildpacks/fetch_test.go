package buildpacks_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

// TestClassicBuildpackFromTarball: a classic buildpack named by the URL of
// a .tgz or .tar.gz, with its bin/ at the root or under one top directory
// (as GitHub's archives have it), builds the app.
func TestClassicBuildpackFromTarball(t *testing.T) {
	bp := buildpacktest.CopyDir(t, "testdata/classic-buildpack")
	url := buildpacktest.ServeFiles(t, map[string][]byte{
		"/buildpack.tgz":                  buildpacktest.Tarball(t, bp, ""),
		"/archive/hello-classic-1.tar.gz": buildpacktest.Tarball(t, bp, "hello-classic-1"),
	})
	b := buildpacktest.Builder(t)
	for _, ref := range []string{url + "/buildpack.tgz", url + "/archive/hello-classic-1.tar.gz"} {
		o := buildpacks.Options{Env: map[string]string{"BUILDPACK": ref, "GREETING": "hey"}}
		res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/classic-app"), o)
		if err != nil {
			t.Fatalf("%s: %v\n%s", ref, err, log)
		}
		if res.Buildpack != "Hello Classic" || res.Processes["web"] != "bin/hello" {
			t.Errorf("%s: result = %+v", ref, res)
		}
	}
}

// TestBuildpackRefsRefused: what an app may not name as its buildpack, or
// a tarball that must not unpack, fails the build with a message saying
// why, and nothing outside the build's own dirs is written.
func TestBuildpackRefsRefused(t *testing.T) {
	outside := t.TempDir()
	bp, err := filepath.Abs("testdata/classic-buildpack")
	if err != nil {
		t.Fatal(err)
	}
	escape := tgz(t, func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: "bin", Typeflag: tar.TypeSymlink, Linkname: outside})
		tw.WriteHeader(&tar.Header{Name: "bin/detect", Typeflag: tar.TypeReg, Mode: 0o755})
	})
	bomb := tgz(t, func(tw *tar.Writer) {
		zeros := make([]byte, 1<<20)
		for _, name := range []string{"bin/a", "bin/b", "bin/c"} {
			tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(zeros))})
			tw.Write(zeros)
		}
	})
	declared := tgz(t, func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: "bin/compile", Typeflag: tar.TypeReg, Mode: 0o755, Size: 1 << 40})
	})
	url := buildpacktest.ServeFiles(t, map[string][]byte{"/escape.tgz": escape, "/bomb.tgz": bomb, "/declared.tgz": declared, "/junk.tgz": []byte("not gzip")})
	huge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "200000000")
	}))
	t.Cleanup(huge.Close)

	b := buildpacktest.Builder(t)
	b.MaxBuildpackBytes = 2 << 20
	cases := map[string]string{
		"file://" + bp:                 "only https, http, git and ssh URLs may name a buildpack",
		"file:///etc/passwd.tgz":       "only https, http, git and ssh URLs may name a buildpack",
		"ext::sh -c touch% /tmp/pwned": "only https, http, git and ssh URLs may name a buildpack",
		bp:                             "buildpack paths may only name a directory in " + b.PluginDir,
		b.PluginDir + "/../../etc":     "buildpack paths may only name a directory in " + b.PluginDir,
		url + "/escape.tgz":            `buildpack ` + url + `/escape.tgz is refused: symlink "bin" -> "` + outside + `" is absolute`,
		url + "/bomb.tgz":              `buildpack ` + url + `/bomb.tgz is refused: its files hold more than the limit of 2 MiB (reached at "bin/c")`,
		url + "/declared.tgz":          `is refused: its files hold more than the limit of 2 MiB (reached at "bin/compile")`,
		url + "/junk.tgz":              "not a gzipped tarball",
		url + "/missing.tgz":           "the server answered 404 Not Found: check the URL in BUILDPACK or app.json",
		huge.URL + "/huge.tar.gz":      "the download is larger than 100 MiB",
	}
	for ref, want := range cases {
		t.Run(ref, func(t *testing.T) {
			_, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/classic-app"), buildpacks.Options{Env: map[string]string{"BUILDPACK": ref}})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want %q\n%s", err, want, log)
			}
		})
	}
	// With the default bound, a header that declares a terabyte.
	_, _, err = build(t, buildpacktest.Builder(t), buildpacktest.CopyDir(t, "testdata/classic-app"), buildpacks.Options{Env: map[string]string{"BUILDPACK": url + "/declared.tgz"}})
	if want := `its files hold more than the limit of 1 GiB (reached at "bin/compile")`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("a refused buildpack wrote %d entries outside its dir", len(ents))
	}
}

// TestBuildpackDirectoryInPluginDir: a classic buildpack directory in the
// agent's buildpacks dir may be named by its path.
func TestBuildpackDirectoryInPluginDir(t *testing.T) {
	b := buildpacktest.Builder(t)
	dir := filepath.Join(b.PluginDir, "hello-classic")
	if err := os.MkdirAll(b.PluginDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(buildpacktest.CopyDir(t, "testdata/classic-buildpack"), dir); err != nil {
		t.Fatal(err)
	}
	res, log, err := build(t, b, buildpacktest.CopyDir(t, "testdata/classic-app"), buildpacks.Options{Env: map[string]string{"BUILDPACK": dir}})
	if err != nil || res.Buildpack != "Hello Classic" {
		t.Fatalf("result %+v, err %v\n%s", res, err, log)
	}
}

func tgz(t *testing.T, write func(*tar.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	write(tw)
	tw.Flush()
	zw.Close()
	return buf.Bytes()
}
