package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPushCannotWriteOutsideItsApp pushes, over HTTP and over SSH, trees
// crafted with git plumbing to write through a symlink: "link -> ../.."
// (the data dir, seen from where the agent unpacks a push) beside a
// directory "link/" holding admin.token and secret.key, the same with an
// absolute link to a directory outside the data dir, and lone symlinks
// that lead out. git's fsck refuses the first two, the agent's extractor
// the others; every push fails with a message saying why, and no file of
// the data dir outside the app's repository, nor the sentinel outside the
// data dir, changes.
func TestPushCannotWriteOutsideItsApp(t *testing.T) {
	needE2E(t)
	requireBinary(t, "ssh")
	requireBinary(t, "ssh-keygen")
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "evil")
	outside := t.TempDir()
	sentinel := filepath.Join(outside, "sentinel")
	if err := os.WriteFile(sentinel, []byte("sentinel\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mallory", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	a.mustPier("keys", "add", "--role", "deploy", key+".pub")
	repo := &gitRepo{t: t, dir: t.TempDir()}
	repo.git("init", "-q", "-b", "main")
	repo.git("config", "core.sshCommand", "ssh -i "+key+" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR")
	remotes := map[string]string{
		"HTTP": "http://pier:" + a.token + "@" + a.apiAddr + "/git/evil.git",
		"SSH":  "ssh://git@" + a.sshAddr + "/evil.git",
	}
	procfile := repo.blob("web: sleep 1000\n")
	payload := repo.tree(
		treeEntry{"100644", "admin.token", repo.blob("pwned\n")},
		treeEntry{"100644", "secret.key", repo.blob("pwned\n")},
		treeEntry{"100644", "sentinel", repo.blob("pwned\n")},
	)
	crafted := []struct {
		name string
		tree string
		want string
	}{
		{"a link to the data dir beside a directory of its name", repo.tree(
			treeEntry{"100644", "Procfile", procfile},
			treeEntry{"120000", "link", repo.blob("../..")},
			treeEntry{"40000", "link", payload},
		), "duplicateEntries: contains duplicate file entries"},
		{"an absolute link out beside a directory of its name", repo.tree(
			treeEntry{"100644", "Procfile", procfile},
			treeEntry{"120000", "link", repo.blob(outside)},
			treeEntry{"40000", "link", payload},
		), "duplicateEntries: contains duplicate file entries"},
		{"an absolute link out", repo.tree(
			treeEntry{"100644", "Procfile", procfile},
			treeEntry{"120000", "link", repo.blob(outside)},
		), `the pushed tree is refused: symlink "link" -> "` + outside + `" is absolute`},
		{"a link to the data dir", repo.tree(
			treeEntry{"100644", "Procfile", procfile},
			treeEntry{"120000", "link", repo.blob("../..")},
		), `the pushed tree is refused: symlink "link" -> "../.." leads out of it`},
	}

	before := snapshotData(t, a.dataDir)
	for _, c := range crafted {
		commit := repo.git("commit-tree", "-m", c.name, c.tree)
		for transport, remote := range remotes {
			t.Run(transport+"/"+c.name, func(t *testing.T) {
				out, err := repo.tryGit("push", remote, strings.TrimSpace(commit)+":refs/heads/main")
				if err == nil {
					t.Fatalf("the push succeeded:\n%s", out)
				}
				if !strings.Contains(out, c.want) {
					t.Errorf("the push output lacks %q:\n%s", c.want, out)
				}
			})
		}
	}

	after := snapshotData(t, a.dataDir)
	for p, sum := range before {
		if after[p] != sum {
			t.Errorf("%s changed: %s, was %s", p, after[p], sum)
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			t.Errorf("%s appeared", p)
		}
	}
	if b, _ := os.ReadFile(sentinel); string(b) != "sentinel\n" {
		t.Errorf("the sentinel outside the data dir = %q", b)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("the directory outside the data dir holds %d entries, want the sentinel alone", len(ents))
	}
	if r := a.pier("releases", "-a", "evil", "--json"); r.code != 0 || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("refused pushes made releases: %s %s", r.stdout, r.stderr)
	}
}

// snapshotData describes every file of the data dir (mode, and the sum of
// its bytes or its link) but the app's own repository and the agent's log.
func snapshotData(t *testing.T, dir string) map[string]string {
	t.Helper()
	skip := map[string]bool{"repos/evil.git": true, "agent-test.log": true}
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if skip[rel] {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
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
		case rel == "pier.db":
			// The agent writes it for every push: the audit log records
			// each one. Its mode is what a push must not change.
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			desc += " " + hex.EncodeToString(sum[:])
		}
		m[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"admin.token", "secret.key"} {
		if _, ok := m[f]; !ok {
			t.Fatalf("the data dir has no %s to watch", f)
		}
	}
	return m
}

// treeEntry is one raw entry of a git tree object: mode, name, object id.
type treeEntry struct{ mode, name, oid string }

// blob writes content as a blob and returns its id.
func (r *gitRepo) blob(content string) string {
	r.t.Helper()
	return r.gitIn([]byte(content), "hash-object", "-w", "--stdin")
}

// tree writes entries as one tree object exactly as given (unsorted,
// duplicates kept: git checks nothing with --literally) and returns its id.
func (r *gitRepo) tree(entries ...treeEntry) string {
	r.t.Helper()
	var raw bytes.Buffer
	for _, e := range entries {
		oid, err := hex.DecodeString(e.oid)
		if err != nil {
			r.t.Fatal(err)
		}
		fmt.Fprintf(&raw, "%s %s\x00", e.mode, e.name)
		raw.Write(oid)
	}
	return r.gitIn(raw.Bytes(), "hash-object", "-t", "tree", "--literally", "-w", "--stdin")
}

func (r *gitRepo) gitIn(stdin []byte, args ...string) string {
	r.t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = r.dir
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out))
}
