package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/pierhq/pier/api"
)

// TestSSHPush deploys over ssh://git@HOST:PORT/APP.git with a key added by
// `pier keys add`, and checks that removing the key stops the pushes.
func TestSSHPush(t *testing.T) {
	needE2E(t)
	requireBinary(t, "ssh")
	requireBinary(t, "ssh-keygen")
	a := startAgent(t, agentOpts{})

	out := a.mustPier("apps", "create", "hello")
	shareGoBuildCache(t, a, "hello")
	remote := "ssh://git@" + a.sshAddr + "/hello.git"
	if !strings.Contains(out, "SSH remote: "+remote+"\n") {
		t.Fatalf("apps create printed %q, want the SSH remote %s", out, remote)
	}

	key := filepath.Join(t.TempDir(), "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "laptop", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	repo := newRepo(t, "hello")
	repo.git("config", "core.sshCommand", "ssh -i "+key+" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -o BatchMode=yes -o LogLevel=ERROR")
	repo.git("remote", "add", "deploy", remote)

	if out, err := repo.push("main"); err == nil || !strings.Contains(out, "Permission denied (publickey)") {
		t.Fatalf("a push with a key not added yet: err %v\n%s", err, out)
	}

	r := a.pier("keys", "add", "--role", "deploy", key+".pub")
	if r.code != 0 || !strings.Contains(r.stderr, "(laptop)") {
		t.Fatalf("keys add: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var keys []api.Key
	a.pierJSON(&keys, "keys", "list")
	if len(keys) != 1 || keys[0].Name != "laptop" {
		t.Fatalf("keys list = %+v, want the one key named laptop", keys)
	}

	out, err := repo.push("main")
	if err != nil {
		t.Fatalf("git push over SSH: %v\n%s", err, out)
	}
	if !strings.Contains(out, "remote: -----> ") || !strings.Contains(out, "Released v1") {
		t.Errorf("the push over SSH did not stream the deploy:\n%s", out)
	}
	if code, body, _ := a.get("hello", "/"); code != 200 || !strings.Contains(body, "hello from hello v1") {
		t.Fatalf("GET / through the proxy = %d %q, want 200 and v1", code, body)
	}
	var rels []api.Release
	a.pierJSON(&rels, "releases", "-a", "hello")
	if len(rels) != 1 || rels[0].CreatedBy != "laptop" {
		t.Errorf("releases = %+v, want v1 made by the key's name", rels)
	}

	a.mustPier("keys", "remove", keys[0].Fingerprint)
	repo.commit("after the key is gone")
	if out, err := repo.push("main"); err == nil || !strings.Contains(out, "Permission denied (publickey)") {
		t.Errorf("a push after keys remove: err %v\n%s", err, out)
	}
	a.pierJSON(&rels, "releases", "-a", "hello")
	if len(rels) != 1 {
		t.Errorf("a refused push made a release: %+v", rels)
	}
	a.mustPier("apps", "destroy", "-a", "hello", "--confirm", "hello")
}

// TestSSHRemovedKeyLosesOpenConnection holds an authenticated connection
// open, as ssh's ControlMaster does, and checks that `pier keys remove`
// closes it: no second command runs on it.
func TestSSHRemovedKeyLosesOpenConnection(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "hello")
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubFile := filepath.Join(t.TempDir(), "id_ed25519.pub")
	if err := os.WriteFile(pubFile, ssh.MarshalAuthorizedKey(signer.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	a.mustPier("keys", "add", "--role", "deploy", "--name", "laptop", pubFile)

	c, err := ssh.Dial("tcp", a.sshAddr, &ssh.ClientConfig{
		User:            "git",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("dialing the agent's SSH port with the added key: %v", err)
	}
	defer c.Close()
	run := func(cmd string) (string, error) {
		sess, err := c.NewSession()
		if err != nil {
			return "", err
		}
		defer sess.Close()
		out, err := sess.CombinedOutput(cmd)
		return string(out), err
	}
	// Any command shows the connection works: this one gets pier's answer.
	if out, _ := run("ls"); !strings.Contains(out, "pier only accepts git push over SSH") {
		t.Fatalf("a first command over the open connection got %q", out)
	}

	a.mustPier("keys", "remove", ssh.FingerprintSHA256(signer.PublicKey()))
	closed := make(chan struct{})
	go func() { _ = c.Wait(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Error("the removed key's connection was still open 5 s after keys remove")
	}
	// git receive-pack would start by advertising the repository's refs
	// and capabilities.
	if out, err := run("git-receive-pack '/hello.git'"); err == nil || strings.Contains(out, "capabilities") || strings.Contains(out, "refs/") {
		t.Errorf("a second command ran after keys remove: %v\n%q", err, out)
	}
}
