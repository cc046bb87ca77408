package buildpacks

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// regularEntry is what a walk saw before the build swapped the file.
type regularEntry struct{ name string }

func (e regularEntry) Name() string               { return e.name }
func (e regularEntry) IsDir() bool                { return false }
func (e regularEntry) Type() fs.FileMode          { return 0 }
func (e regularEntry) Info() (fs.FileInfo, error) { return nil, fs.ErrNotExist }

// TestArchiveReadsOnlyInsideRoot: a build that swaps a file for a symlink
// out of the build dir, or for a fifo, after the walk saw a regular file,
// gets neither the outside file's bytes into the slug nor a hung build.
func TestArchiveReadsOnlyInsideRoot(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(outside, []byte("TOP-SECRET-CONTENT"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for name, to := range map[string]string{"abs": outside, "rel": "../../../../../../../../" + outside} {
		if err := os.Symlink(to, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"abs", "rel"} {
		if err := archiveEntry(r, tw, name, regularEntry{name}); err == nil {
			t.Errorf("%s: a swapped-in symlink out of the build dir was read", name)
		}
	}
	done := make(chan error, 1)
	go func() { done <- archiveEntry(r, tw, "fifo", regularEntry{"fifo"}) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("fifo: %v, want it skipped", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a swapped-in fifo hung the slug's writing")
	}
	tw.Close()
	if strings.Contains(buf.String(), "TOP-SECRET-CONTENT") || strings.Contains(buf.String(), "fifo") {
		t.Errorf("the slug holds what it must not:\n%q", buf.String())
	}
}
