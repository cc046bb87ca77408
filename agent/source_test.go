package agent

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/internal/untar"
)

// treeEntry is one raw entry of a git tree object.
type treeEntry struct{ mode, name, oid string }

// craftRepo makes a repository whose main commit holds entries as one
// tree object written with --literally, so that git checks nothing (a
// symlink and a directory may share a name).
func craftRepo(t *testing.T, build func(blob func(string) string, tree func([]treeEntry) string) string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed: skipping")
	}
	dir := t.TempDir()
	git := func(stdin []byte, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir, "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@pier.invalid",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@pier.invalid")
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	git(nil, "init", "-q", "--bare")
	blob := func(content string) string { return git([]byte(content), "hash-object", "-w", "--stdin") }
	tree := func(entries []treeEntry) string {
		var raw []byte
		for _, e := range entries {
			oid, err := hex.DecodeString(e.oid)
			if err != nil {
				t.Fatal(err)
			}
			raw = append(append(raw, e.mode+" "+e.name+"\x00"...), oid...)
		}
		return git(raw, "hash-object", "-t", "tree", "--literally", "-w", "--stdin")
	}
	commit := git(nil, "commit-tree", "-m", "crafted", build(blob, tree))
	git(nil, "update-ref", "refs/heads/main", commit)
	return dir
}

// TestExtractTarRefusesCraftedTrees: even if git let them in (no fsck),
// trees whose archive writes through a symlink are refused, and nothing
// outside the source dir changes.
func TestExtractTarRefusesCraftedTrees(t *testing.T) {
	outside := t.TempDir()
	cases := []struct {
		name, link, want string
	}{
		{"relative link out, then a directory of its name", "../..", `symlink "link" -> "../.." leads out of it`},
		{"absolute link, then a directory of its name", outside, `symlink "link" -> "` + outside + `" is absolute`},
		{"link inside, then a directory of its name", ".", `"link" appears twice (a symlink, then a directory)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			repo := craftRepo(t, func(blob func(string) string, tree func([]treeEntry) string) string {
				sub := tree([]treeEntry{{"100644", "admin.token", blob("pwned\n")}})
				return tree([]treeEntry{
					{"100644", "Procfile", blob("web: sleep 1000\n")},
					{"120000", "link", blob(c.link)},
					{"40000", "link", sub},
				})
			})
			data := t.TempDir()
			token := filepath.Join(data, "admin.token")
			if err := os.WriteFile(token, []byte("secret\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(data, "tmp", "src-1")
			if err := os.MkdirAll(src, 0o700); err != nil {
				t.Fatal(err)
			}
			archive := exec.Command("git", "-C", repo, "archive", "--format=tar", "main")
			tarball, err := archive.Output()
			if err != nil {
				t.Fatalf("git archive: %v", err)
			}
			err = extractTar(bytes.NewReader(tarball), src)
			if !errors.Is(err, untar.ErrRefused) || !strings.Contains(err.Error(), "the pushed tree is refused: "+c.want) ||
				!strings.HasSuffix(err.Error(), "Fix the commit and push again") {
				t.Errorf("err = %v, want the tree refused: %s", err, c.want)
			}
			if b, _ := os.ReadFile(token); string(b) != "secret\n" {
				t.Errorf("admin.token = %q: the push wrote outside its tree", b)
			}
			if ents, _ := os.ReadDir(outside); len(ents) != 0 {
				t.Errorf("the push wrote %d entries outside the data dir", len(ents))
			}
		})
	}
}
