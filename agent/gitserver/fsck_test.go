package gitserver

import (
	"bytes"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
)

// craftCommit writes, with git plumbing into the checkout dir, a commit
// whose tree holds a symlink "link -> ../.." and a directory "link/" with
// admin.token: a duplicate entry git only lets in without fsck.
func craftCommit(t *testing.T, dir string) string {
	t.Helper()
	git := func(stdin []byte, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	tree := func(entries ...[3]string) string {
		var raw []byte
		for _, e := range entries {
			oid, _ := hex.DecodeString(e[2])
			raw = append(append(raw, e[0]+" "+e[1]+"\x00"...), oid...)
		}
		return git(raw, "hash-object", "-t", "tree", "--literally", "-w", "--stdin")
	}
	token := git([]byte("pwned\n"), "hash-object", "-w", "--stdin")
	up := git([]byte("../.."), "hash-object", "-w", "--stdin")
	top := tree([3]string{"120000", "link", up}, [3]string{"40000", "link", tree([3]string{"100644", "admin.token", token})})
	return git(nil, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit-tree", "-m", "crafted", top)
}

// TestPushesAreFscked: over HTTP and SSH, git refuses a crafted tree before
// the pre-receive hook runs, even in a repository made earlier whose own
// config turns fsck off; a sound push still passes.
func TestPushesAreFscked(t *testing.T) {
	requireBinary(t, "git")
	requireBinary(t, "ssh")
	f := startSSH(t, nil)
	httpSrv := httptest.NewServer(f.srv.Git)
	t.Cleanup(httpSrv.Close)
	f.srv.Git.Authorize = func(http.ResponseWriter, *http.Request, string, bool) (string, bool) { return "alice", true }
	remotes := map[string]string{
		"http": strings.Replace(httpSrv.URL, "://", "://pier:token@", 1) + "/git/hello.git",
		"ssh":  f.remote("other"),
	}
	for name, remote := range remotes {
		t.Run(name, func(t *testing.T) {
			app := map[string]string{"http": "hello", "ssh": "other"}[name]
			if err := f.srv.Git.EnsureRepo(app); err != nil {
				t.Fatal(err)
			}
			repo := f.srv.Git.RepoDir(app)
			if out, err := exec.Command("git", "-C", repo, "config", "receive.fsckObjects", "false").CombinedOutput(); err != nil {
				t.Fatalf("git config: %v\n%s", err, out)
			}
			src := newCheckout(t)
			out, code := f.run(t, f.alice, src, "git", "push", remote, craftCommit(t, src)+":refs/heads/main")
			if code == 0 || !strings.Contains(out, "duplicateEntries: contains duplicate file entries") {
				t.Errorf("the crafted push exited %d, want git's fsck to refuse it:\n%s", code, out)
			}
			if strings.Contains(out, "stub deploy") {
				t.Errorf("the crafted push reached the pre-receive hook:\n%s", out)
			}
			if out, err := exec.Command("git", "-C", repo, "rev-parse", "--verify", "-q", "main").Output(); err == nil {
				t.Errorf("the refused push moved main to %s", out)
			}
			out, code = f.run(t, f.alice, src, "git", "push", remote, "main")
			if code != 0 || !strings.Contains(out, "stub deploy of "+app) {
				t.Errorf("a sound push exited %d:\n%s", code, out)
			}
		})
	}
}
