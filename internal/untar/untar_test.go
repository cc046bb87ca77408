package untar

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one entry of a tar a test builds.
type entry struct {
	name, link, body string
	typ              byte
	mode             int64
	size             int64 // when set, declared instead of len(body), and no body is written
}

func file(name, body string) entry { return entry{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) entry        { return entry{name: name, typ: tar.TypeDir} }
func link(name, to string) entry   { return entry{name: name, link: to, typ: tar.TypeSymlink} }

// makeTar writes entries as a tar stream. An entry with a declared size
// ends the stream after its header, as a bomb's first header would.
func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		mode := e.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: mode, Size: int64(len(e.body)), Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if e.size > 0 {
			h.Size = e.size
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.size > 0 {
			return buf.Bytes()
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sandbox is a target dir inside a tree of files that must not change:
// base/secret.key, base/admin.token, base/outside/ (what absolute links
// name) and base/data/tmp/target, the target.
type sandbox struct{ base, target, outside string }

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	base := t.TempDir()
	s := sandbox{base: base, target: filepath.Join(base, "data", "tmp", "target"), outside: filepath.Join(base, "outside")}
	for _, d := range []string{s.target, s.outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{"secret.key": "secret", "data/admin.token": "token", "outside/sentinel": "sentinel"} {
		if err := os.WriteFile(filepath.Join(base, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// snapshot describes every path under base but the target: its kind,
// mode, and content or link target.
func (s sandbox) snapshot(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(s.base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == s.target {
			return filepath.SkipDir
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		desc := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			desc += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			desc += " " + string(b)
		}
		m[p] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	deep := strings.Repeat("d/", 200) + "f"
	var many []entry
	for i := range 20 {
		many = append(many, file("f"+strings.Repeat("x", i), ""))
	}
	cases := []struct {
		name    string
		entries func(s sandbox) []entry
		o       Options
		want    string
	}{
		{"a symlink out then a directory of the same name", func(sandbox) []entry {
			return []entry{link("link", "../.."), dir("link/"), file("link/admin.token", "pwned")}
		}, Options{}, `symlink "link" -> "../.." leads out of it: links must stay inside`},
		{"a symlink then a directory of the same name", func(sandbox) []entry {
			return []entry{link("link", "."), dir("link/"), file("link/admin.token", "pwned")}
		}, Options{}, `"link" appears twice (a symlink, then a directory): a path may appear only once`},
		{"an absolute symlink of a slug then a directory of the same name", func(s sandbox) []entry {
			return []entry{link("link", s.base), dir("link/"), file("link/secret.key", "pwned")}
		}, Slug, `"link" appears twice (a symlink, then a directory)`},
		{"a file under a symlink", func(sandbox) []entry {
			return []entry{link("link", "."), file("link/x", "pwned")}
		}, Options{}, `"link/x" lies under "link", which is a symlink`},
		{"a file twice", func(sandbox) []entry {
			return []entry{file("a", "1"), file("a", "2")}
		}, Options{}, `"a" appears twice (a file, then a file)`},
		{"a relative symlink out", func(sandbox) []entry {
			return []entry{dir("sub/"), link("sub/up", "../../../admin.token")}
		}, Options{}, `symlink "sub/up" -> "../../../admin.token" leads out of it`},
		{"an absolute symlink", func(s sandbox) []entry {
			return []entry{link("abs", s.outside)}
		}, Options{}, `" is absolute: links must stay inside, with a relative target`},
		{"a write through an absolute symlink of a slug", func(s sandbox) []entry {
			return []entry{link("abs", s.outside), file("abs/sentinel", "pwned")}
		}, Slug, `"abs/sentinel" lies under "abs", which is a symlink`},
		{"a chain of symlinks out", func(sandbox) []entry {
			return []entry{link("r", "."), link("s", "r/..")}
		}, Slug, `symlink "s" -> "r/.." leads out of it through the symlink "r"`},
		{"a hard link", func(sandbox) []entry {
			return []entry{file("a", "x"), {name: "h", link: "a", typ: tar.TypeLink}}
		}, Slug, `"h" is a hard link to "a": hard links are not accepted`},
		{"a character device", func(sandbox) []entry {
			return []entry{{name: "null", typ: tar.TypeChar}}
		}, Options{}, `"null" is a character device: only files, directories and symlinks are accepted`},
		{"a fifo", func(sandbox) []entry {
			return []entry{{name: "pipe", typ: tar.TypeFifo}}
		}, Options{}, `"pipe" is a fifo (named pipe)`},
		{"a name with ..", func(sandbox) []entry {
			return []entry{file("../x", "pwned")}
		}, Options{}, `"../x" has a ".." element`},
		{"a name with .. inside", func(sandbox) []entry {
			return []entry{file("a/../../x", "pwned")}
		}, Options{}, `"a/../../x" has a ".." element`},
		{"an absolute name", func(s sandbox) []entry {
			return []entry{file(filepath.Join(s.outside, "x"), "pwned")}
		}, Options{}, `has an absolute name`},
		{"a name nested too deep", func(sandbox) []entry {
			return []entry{file(deep, "x")}
		}, Options{}, `is nested 201 levels deep, more than the limit of 128`},
		{"too many entries", func(sandbox) []entry { return many }, Options{MaxEntries: 10}, "it holds more than 10 entries"},
		{"a file larger than the bound", func(sandbox) []entry {
			return []entry{file("big", strings.Repeat("x", 2048))}
		}, Options{MaxBytes: 1024}, `its files hold more than the limit of 1024 bytes (reached at "big")`},
		{"a declared size past the bound", func(sandbox) []entry {
			return []entry{{name: "huge", typ: tar.TypeReg, size: 1 << 40}}
		}, Options{}, `its files hold more than the limit of 2 GiB (reached at "huge")`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSandbox(t)
			before := s.snapshot(t)
			c.o.What = "the test tree"
			err := Extract(bytes.NewReader(makeTar(t, c.entries(s))), s.target, c.o)
			if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want a refusal containing %q", err, c.want)
			}
			if !strings.HasPrefix(err.Error(), "the test tree is refused: ") {
				t.Errorf("err = %q, want it to name the archive", err)
			}
			assertUnchanged(t, s, before)
		})
	}
}

func assertUnchanged(t *testing.T, s sandbox, before map[string]string) {
	t.Helper()
	after := s.snapshot(t)
	for p, d := range after {
		if before[p] != d {
			t.Errorf("%s changed outside the target: %q, was %q", p, d, before[p])
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			t.Errorf("%s is gone", p)
		}
	}
}

// TestExtractStopsATarBomb: a small gzip stream that unpacks to far more
// than the bound stops at the bound.
func TestExtractStopsATarBomb(t *testing.T) {
	zeros := strings.Repeat("\x00", 1<<20)
	var entries []entry
	for i := range 16 {
		entries = append(entries, file("zeros/"+strings.Repeat("z", i+1), zeros))
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(makeTar(t, entries))
	zw.Close()
	if gz.Len() > 256<<10 {
		t.Fatalf("the bomb is %d bytes compressed; it should be small", gz.Len())
	}
	s := newSandbox(t)
	before := s.snapshot(t)
	zr, err := gzip.NewReader(&gz)
	if err != nil {
		t.Fatal(err)
	}
	err = Extract(zr, s.target, Options{What: "the bomb", MaxBytes: 2 << 20})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "the bomb is refused: its files hold more than the limit of 2 MiB") {
		t.Fatalf("err = %v, want the bomb refused at 2 MiB", err)
	}
	var written int64
	filepath.WalkDir(s.target, func(p string, d fs.DirEntry, err error) error {
		if fi, err := d.Info(); err == nil && fi.Mode().IsRegular() {
			written += fi.Size()
		}
		return nil
	})
	if written > 2<<20 {
		t.Errorf("%d bytes were written, more than the bound", written)
	}
	assertUnchanged(t, s, before)
}

// TestExtractWritesWhatGitArchiveWrites: git archive's global header,
// directories, plain and executable files, and links that stay inside.
func TestExtractWritesWhatGitArchiveWrites(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "0123abcd"}})
	tw.Close()
	body := append(bytes.TrimSuffix(buf.Bytes(), make([]byte, 1024)), makeTar(t, []entry{
		file("bin/run", "#!/bin/sh\n"),
		dir("bin/"), // after its file: an implied directory may be named later
		{name: "bin/run.sh", body: "#!/bin/sh\n", typ: tar.TypeReg, mode: 0o4775},
		{name: "README", body: "hi\n", typ: tar.TypeReg, mode: 0o664},
		dir("lib/"),
		link("lib/current", "../bin"),
		link("run", "bin/run.sh"),
		link("self", "."),
	})...)
	s := newSandbox(t)
	if err := Extract(bytes.NewReader(body), s.target, Options{What: "the pushed tree"}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"bin/run": 0o644, "bin/run.sh": 0o755, "README": 0o644} {
		fi, err := os.Lstat(filepath.Join(s.target, name))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want mode %v", name, fi.Mode(), err, want)
		}
	}
	if b, err := os.ReadFile(filepath.Join(s.target, "lib", "current", "run.sh")); err != nil || string(b) != "#!/bin/sh\n" {
		t.Errorf("through lib/current: %q %v", b, err)
	}
}

// TestExtractSlugKeepsModesAndHostLinks: a slug keeps its modes (without
// set-id bits), the host runtimes a buildpack linked, and skips devices.
func TestExtractSlugKeepsModesAndHostLinks(t *testing.T) {
	s := newSandbox(t)
	tarball := makeTar(t, []entry{
		{name: "bin/tool", body: "x", typ: tar.TypeReg, mode: 0o4750},
		{name: "bin/node", link: "/usr/bin/node", typ: tar.TypeSymlink},
		link(".venv/bin/python3", "/bin/sh"),
		link(".venv/bin/python", "python3"),
		{name: "dev/null", typ: tar.TypeChar},
		{name: "ro", body: "x", typ: tar.TypeReg, mode: 0o400},
	})
	if err := Extract(bytes.NewReader(tarball), s.target, Slug); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]fs.FileMode{"bin/tool": 0o750, "ro": 0o600} {
		if fi, err := os.Lstat(filepath.Join(s.target, name)); err != nil || fi.Mode() != want {
			t.Errorf("%s: %v %v, want %v", name, fi.Mode(), err, want)
		}
	}
	if l, err := os.Readlink(filepath.Join(s.target, "bin", "node")); err != nil || l != "/usr/bin/node" {
		t.Errorf("bin/node -> %q %v", l, err)
	}
	if _, err := os.Lstat(filepath.Join(s.target, "dev", "null")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a device was written: %v", err)
	}
}

// TestExtractReportsBrokenStreams: a truncated stream is a read error, not
// a refusal.
func TestExtractReportsBrokenStreams(t *testing.T) {
	b := makeTar(t, []entry{file("a", strings.Repeat("x", 4096))})
	err := Extract(io.LimitReader(bytes.NewReader(b), 1024), newSandbox(t).target, Options{What: "the slug"})
	if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "the slug") {
		t.Fatalf("err = %v, want a read error naming the slug", err)
	}
}
