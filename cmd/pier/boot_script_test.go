package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bootScript is the script the aws and gcp modules run from cloud-init.
const bootScript = "../../terraform/boot/pier-boot.sh"

// runBoot runs the boot script against a temporary root (PIER_BOOT_ROOT),
// as cloud-init runs it on a VM with no volume to attach (cloud none),
// with the built binary as the "release". It returns its output.
func runBoot(t *testing.T, root string, settings ...string) (string, error) {
	t.Helper()
	bin, err := os.ReadFile(pierBin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	cmd := exec.Command("bash", bootScript)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"PIER_BOOT_ROOT=" + root,
		"PIER_BOOT_CLOUD=none",
		"PIER_BOOT_URL=" + pierBin,
		"PIER_BOOT_SHA256=" + hex.EncodeToString(sum[:]),
		"PIER_BOOT_DATA_MOUNT=/var/lib/pier",
		"PIER_DOMAIN=localhost",
		"PIER_HTTPS_ADDR=",
	}, settings...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// envFile reads KEY=VALUE lines (values may be double-quoted).
func envFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		m[k] = strings.Trim(v, `"`)
	}
	return m
}

// bootedAgent starts an agent as the installed service would: the data
// dir the boot script laid out, the settings of its pier.env.
func bootedAgent(t *testing.T, root string) *agentProc {
	t.Helper()
	env := envFile(t, filepath.Join(root, "etc/pier/pier.env"))
	if env["PIER_DATA_DIR"] != "/var/lib/pier/data" {
		t.Fatalf("pier.env: PIER_DATA_DIR=%q, want /var/lib/pier/data", env["PIER_DATA_DIR"])
	}
	var extra []string
	for k, v := range env {
		switch k {
		case "PIER_DATA_DIR", "PIER_API_ADDR", "PIER_HTTP_ADDR", "PIER_SSH_ADDR":
			// the test's own: the root's path, free ports
		default:
			extra = append(extra, k+"="+v)
		}
	}
	a := startAgent(t, agentOpts{dataDir: filepath.Join(root, "var/lib/pier/data"), extra: extra, bin: filepath.Join(root, "usr/local/bin/pier")})
	waitFor(t, 30*time.Second, "/readyz", func() bool {
		resp, err := http.Get("http://" + a.apiAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return a
}

// TestBootScriptFreshVM: on a new VM with an empty volume and no backup,
// the boot script installs the verified binary, the unit and pier.env
// (no secrets, no boot settings), and the agent starts on it and is ready.
// A binary whose checksum differs is refused and nothing is laid out.
func TestBootScriptFreshVM(t *testing.T) {
	needE2E(t)
	bad := reachableTempDir(t)
	out, err := runBoot(t, bad, "PIER_BOOT_SHA256="+strings.Repeat("0", 64))
	if err == nil || !strings.Contains(out, "refusing it") {
		t.Errorf("a wrong checksum: want a refusal, got %v\n%s", err, out)
	}
	if entries, _ := os.ReadDir(bad); len(entries) != 0 {
		t.Errorf("a refused binary laid out %d entries", len(entries))
	}

	root := reachableTempDir(t)
	out, err = runBoot(t, root, "PIER_BOOT_BACKUPS="+t.TempDir())
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, out)
	}
	if !strings.Contains(out, "no store and no backup: starting empty") {
		t.Errorf("boot did not say it starts empty:\n%s", out)
	}
	for _, f := range []string{"usr/local/bin/pier", "etc/systemd/system/pier.service", "etc/pier/pier.env", "var/lib/pier/data"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("boot did not lay out %s: %v", f, err)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/pier/pier.env")); err == nil && fi.Mode().Perm() != 0o600 {
		t.Errorf("pier.env has mode %v, want 0600", fi.Mode().Perm())
	}
	env, _ := os.ReadFile(filepath.Join(root, "etc/pier/pier.env"))
	if strings.Contains(string(env), "PIER_BOOT_") || strings.Contains(string(env), "PIER_SECRET_KEY") {
		t.Errorf("pier.env holds boot settings or a secret:\n%s", env)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/pier.service"))
	if !strings.Contains(string(unit), "/usr/local/bin/pier") || !strings.Contains(string(unit), "/etc/pier/pier.env") {
		t.Errorf("the unit does not run the installed binary with pier.env:\n%s", unit)
	}
	bootedAgent(t, root)
}

// TestBootScriptRestoresOntoEmptyVolume: a replacement VM finds an empty
// volume and a backup in the bucket: the boot script restores the newest
// backup and puts the secret key back from the secret store, and the app
// serves its live release with its config, with no build.
func TestBootScriptRestoresOntoEmptyVolume(t *testing.T) {
	needE2E(t)
	a := startAgent(t, agentOpts{})
	a.mustPier("apps", "create", "shop")
	r := newPrebuiltRepo(t, "hello")
	r.remote(a, "shop", a.token)
	mustPush(t, r, "main")
	a.mustPier("config", "set", "-a", "shop", "COLOR=teal") // v2
	backups := t.TempDir()
	a.mustPier("backup", "create", "--to", backups)
	// The key, kept apart from the backups (SSM or Secret Manager on a cloud).
	key := filepath.Join(t.TempDir(), "secret-key")
	b, err := os.ReadFile(filepath.Join(a.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, b, 0o600); err != nil {
		t.Fatal(err)
	}
	a.stop()
	killApps(a.dataDir)

	root := reachableTempDir(t)
	out, err := runBoot(t, root, "PIER_BOOT_BACKUPS="+backups, "PIER_BOOT_SECRET="+key)
	if err != nil {
		t.Fatalf("boot: %v\n%s", err, out)
	}
	if !strings.Contains(out, "the data volume is empty: restoring pier-backup-") || !strings.Contains(out, "secret key put back") {
		t.Errorf("boot did not say it restored:\n%s", out)
	}
	if fi, err := os.Stat(filepath.Join(root, "var/lib/pier/data/secret.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secret.key: %v %v", fi, err)
	}
	booted := bootedAgent(t, root)
	waitFor(t, 60*time.Second, "shop serving v2 with its config", func() bool {
		code, body, _, err := booted.tryGet("shop.localhost", "/")
		return err == nil && code == 200 && strings.HasPrefix(body, "hello from shop v2 ") && strings.HasSuffix(body, "color=teal\n")
	})
	booted.stop()
	killApps(booted.dataDir)

	// The next boot of the same VM keeps the volume's store.
	out, err = runBoot(t, root, "PIER_BOOT_BACKUPS="+backups, "PIER_BOOT_SECRET="+key)
	if err != nil || !strings.Contains(out, "the data volume holds a store: keeping it") {
		t.Errorf("second boot: %v\n%s", err, out)
	}
}

// TestBootScriptKeepsANewerVolume: a VM whose data volume holds a store of
// a newer schema (left by a newer pier) is never downgraded: the boot
// script keeps the volume as it is, and the installed agent refuses to
// start on it, saying to upgrade, with the store unchanged.
func TestBootScriptKeepsANewerVolume(t *testing.T) {
	needE2E(t)
	future, err := os.ReadFile("../../agent/store/testdata/future.db")
	if err != nil {
		t.Fatal(err)
	}
	root := reachableTempDir(t)
	data := filepath.Join(root, "var/lib/pier/data")
	if err := os.MkdirAll(data, 0o711); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(data, "pier.db")
	if err := os.WriteFile(db, future, 0o600); err != nil {
		t.Fatal(err)
	}
	backups := t.TempDir() // a backup there must not be restored over it
	out, err := runBoot(t, root, "PIER_BOOT_BACKUPS="+backups)
	if err != nil || !strings.Contains(out, "the data volume holds a store: keeping it") {
		t.Fatalf("boot: %v\n%s", err, out)
	}
	env := envFile(t, filepath.Join(root, "etc/pier/pier.env"))
	cmd := exec.Command(filepath.Join(root, "usr/local/bin/pier"), "agent", "--data-dir", data,
		"--http-addr", "127.0.0.1:0", "--https-addr", "", "--api-addr", "127.0.0.1:0", "--ssh-addr", "")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PIER_DOMAIN=" + env["PIER_DOMAIN"]}
	done := make(chan struct{})
	var agentOut []byte
	go func() { agentOut, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the agent started on a store of a newer schema:\n%s", agentOut)
	}
	if err == nil || !strings.Contains(string(agentOut), "has schema v999, newer than this pier knows") || !strings.Contains(string(agentOut), "upgrade pier") {
		t.Errorf("the agent on a newer store: %v\n%s", err, agentOut)
	}
	if now, _ := os.ReadFile(db); string(now) != string(future) {
		t.Error("the newer store was changed")
	}
}
