package local

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/scheduler"
)

// entry is one tar entry of a test slug.
type entry struct {
	name, link, body string
	typ              byte
}

func writeSlug(t *testing.T, entries []entry) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: 0o755, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(e.body))
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "slug.tgz")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDeployRefusesEscapingSlugs(t *testing.T) {
	ok := entry{name: "bin/run", body: "#!/bin/sh\nsleep 60\n", typ: tar.TypeReg}
	cases := map[string][]entry{
		"dot-dot entry":                     {ok, {name: "../../escaped", body: "x", typ: tar.TypeReg}},
		"write through an absolute symlink": {ok, {name: "out", link: "/tmp", typ: tar.TypeSymlink}, {name: "out/pier-slug-escaped", body: "x", typ: tar.TypeReg}},
		"dot-dot symlink":                   {ok, {name: "up", link: "../../..", typ: tar.TypeSymlink}},
		"write through":                     {ok, {name: "r", link: ".", typ: tar.TypeSymlink}, {name: "s", link: "r/..", typ: tar.TypeSymlink}, {name: "s/escaped", body: "x", typ: tar.TypeReg}},
		"chained symlinks":                  {ok, {name: "r", link: ".", typ: tar.TypeSymlink}, {name: "s", link: "r/..", typ: tar.TypeSymlink}},
		"hard link outside":                 {ok, {name: "h", link: "../../etc/passwd", typ: tar.TypeLink}},
	}
	for name, entries := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			s := newTestScheduler(t, dir, nil)
			d := scheduler.Deployment{
				App: "evil", Slot: "blue", Release: 1, Slug: writeSlug(t, entries),
				Processes: map[string]string{"worker": "bin/run"},
				Formation: scheduler.Formation{"worker": 1},
			}
			err := s.Deploy(context.Background(), d)
			if err == nil {
				s.Stop(context.Background(), "evil", "")
				t.Fatal("Deploy succeeded, want the slug refused")
			}
			if !strings.Contains(err.Error(), "refus") && !strings.Contains(err.Error(), "escapes") {
				t.Errorf("error %q does not say the slug was refused", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "escaped")); err == nil {
				t.Errorf("an entry was written outside the slug")
			}
			if _, err := os.Stat(filepath.Join(dir, "apps", "evil", "escaped")); err == nil {
				t.Errorf("an entry was written outside the slug")
			}
			if _, err := os.Stat("/tmp/pier-slug-escaped"); err == nil {
				os.Remove("/tmp/pier-slug-escaped")
				t.Errorf("an entry was written through an absolute symlink")
			}
			if ins, _ := s.Instances(context.Background(), "evil"); len(ins) != 0 {
				t.Errorf("a refused slug started %v", ins)
			}
		})
	}
}

func TestDeployKeepsInsideSymlinks(t *testing.T) {
	s := newTestScheduler(t, t.TempDir(), nil)
	d := scheduler.Deployment{
		App: "links", Slot: "blue", Release: 1,
		Slug: writeSlug(t, []entry{
			{name: "vendor/bin/run", body: "#!/bin/sh\nexit 0\n", typ: tar.TypeReg},
			{name: "bin", link: "vendor/bin", typ: tar.TypeSymlink},
		}),
		Processes: map[string]string{"worker": "bin/run"},
	}
	t.Cleanup(func() { s.Stop(context.Background(), "links", "") })
	if err := s.Deploy(context.Background(), d); err != nil {
		t.Fatalf("a slug with a symlink inside was refused: %v", err)
	}
}

// TestDeployKeepsHostRuntimeLinks: buildpacks link host runtimes into slugs
// (bin/node -> /usr/bin/node, a venv's python -> python3 -> the host's).
func TestDeployKeepsHostRuntimeLinks(t *testing.T) {
	s := newTestScheduler(t, t.TempDir(), nil)
	d := scheduler.Deployment{
		App: "runtime", Slot: "blue", Release: 1,
		Slug: writeSlug(t, []entry{
			{name: "bin/sh", link: "/bin/sh", typ: tar.TypeSymlink},
			{name: ".venv/bin/python3", link: "/bin/sh", typ: tar.TypeSymlink},
			{name: ".venv/bin/python", link: "python3", typ: tar.TypeSymlink},
		}),
		Processes: map[string]string{"worker": ".venv/bin/python -c 'sleep 60'"},
	}
	t.Cleanup(func() { s.Stop(context.Background(), "runtime", "") })
	if err := s.Deploy(context.Background(), d); err != nil {
		t.Fatalf("a slug linking host runtimes was refused: %v", err)
	}
}
