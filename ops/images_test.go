package ops

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// required reports whether PIER_REQUIRE names the binary.
func required(name string) bool {
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			return true
		}
	}
	return false
}

// TestComposeConfig: compose.yaml is a valid Compose file for every
// environment file, with the secrets given as files.
func TestComposeConfig(t *testing.T) {
	var compose []string
	if p, err := exec.LookPath("docker-compose"); err == nil {
		compose = []string{p}
	} else if p, err := exec.LookPath("docker"); err == nil && exec.Command(p, "compose", "version").Run() == nil {
		compose = []string{p, "compose"}
	} else if required("docker") || required("docker-compose") {
		t.Fatal("docker-compose (Debian's docker-compose) or the docker compose plugin is required (PIER_REQUIRE) but not found")
	} else {
		t.Skip("neither docker-compose nor the docker compose plugin is installed (Debian: docker-compose)")
	}
	secrets := t.TempDir()
	for _, f := range []string{"admin.token", "grafana.password"} {
		if err := os.WriteFile(filepath.Join(secrets, f), []byte("not-a-real-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, env := range []string{"dev", "staging", "production"} {
		cmd := exec.Command(compose[0], append(compose[1:], "-f", "../compose.yaml", "config")...)
		cmd.Env = append(os.Environ(), "PIER_ENV="+env, "PIER_SECRETS_DIR="+secrets)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s config with PIER_ENV=%s: %v\n%s", compose[0], env, err, out)
			continue
		}
		cfg := string(out)
		for _, want := range []string{"pier_admin_token", "/run/secrets/pier_admin_token", "rules.yml", "pier.json", "PIER_DOMAIN"} {
			if !strings.Contains(cfg, want) {
				t.Errorf("PIER_ENV=%s: the resolved config has no %s", env, want)
			}
		}
		if strings.Contains(cfg, "not-a-real-secret") {
			t.Errorf("PIER_ENV=%s: a secret's value is in the resolved config", env)
		}
	}
}

// docker returns a docker client command line reaching a daemon: the one
// DOCKER_HOST or the default socket names, or else one this test starts
// (as root, with dockerd installed) in a temp dir and stops at the end.
func docker(t *testing.T) func(args ...string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("docker")
	if err != nil {
		if required("docker") {
			t.Fatalf("docker is required (PIER_REQUIRE) but not found: install Debian's docker.io")
		}
		t.Skip("docker not installed (Debian: docker.io)")
	}
	env := append(os.Environ(), "DOCKER_BUILDKIT=0") // the classic builder: no buildx, no pulls of a frontend image
	mk := func(host string) func(args ...string) *exec.Cmd {
		return func(args ...string) *exec.Cmd {
			cmd := exec.Command(bin, args...)
			cmd.Env = env
			if host != "" {
				cmd.Env = append(cmd.Env, "DOCKER_HOST="+host)
			}
			return cmd
		}
	}
	if mk("")("info").Run() == nil {
		return mk("")
	}
	dockerd, err := exec.LookPath("dockerd")
	if err != nil || os.Geteuid() != 0 {
		if required("docker") {
			t.Fatalf("docker is required (PIER_REQUIRE) but no daemon answers and none can be started here (dockerd: %v, root: %v)", err, os.Geteuid() == 0)
		}
		t.Skip("no docker daemon answers and none can be started (needs dockerd and root)")
	}
	dir, err := os.MkdirTemp("", "pier-dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	sock := "unix://" + filepath.Join(dir, "docker.sock")
	d := exec.Command(dockerd, "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"), "-H", sock, "--iptables=false", "--bridge=none")
	var log bytes.Buffer
	d.Stdout, d.Stderr = &log, &log
	d.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = d.Process.Kill()
			<-done
		}
		unmountUnder(dir) // the network namespace and any layer dockerd left mounted
		_ = os.RemoveAll(dir)
	})
	run := mk(sock)
	for deadline := time.Now().Add(30 * time.Second); run("info").Run() != nil; time.Sleep(200 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the dockerd this test started did not answer in 30s:\n%s", log.String())
		}
	}
	return run
}

// unmountUnder unmounts every mount point below dir, deepest first.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		_ = syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

// TestImagesBuildAndTurnHealthy builds pier's Dockerfile (and the sample
// app's) with Docker Engine and runs them: each container turns healthy,
// and pier's serves a push. No registry can be reached here, so the base
// images are local stand-ins made from this machine's files: a Go image
// (this Go toolchain and a shell) and a Debian image (a shell, git, curl,
// useradd and their libraries, with an apt-get that installs nothing
// because the packages are there already). Modules come from this
// machine's module cache, served to the build over loopback.
func TestImagesBuildAndTurnHealthy(t *testing.T) {
	if testing.Short() {
		t.Skip("builds images")
	}
	run := docker(t)
	// The images keep their names between runs, so a second run reuses
	// the stand-ins and the build cache (a first run takes minutes).
	tag := "pier-image-test"
	goImage, baseImage := "pier-standin-go:"+runtime.Version(), "pier-standin-debian:test"
	if run("image", "inspect", goImage).Run() != nil {
		importRootfs(t, run, goImage, goRootfs(t), "ENV PATH=/usr/local/go/bin:/usr/bin:/bin", "ENV HOME=/root")
	}
	if run("image", "inspect", baseImage).Run() != nil {
		importRootfs(t, run, baseImage, debianRootfs(t), "ENV PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
	}
	proxy := moduleProxy(t)

	build := func(image, dir string) {
		t.Helper()
		cmd := run("build", "--network", "host", "-t", image,
			"--build-arg", "GO_IMAGE="+goImage, "--build-arg", "BASE_IMAGE="+baseImage,
			"--build-arg", "GOPROXY="+proxy+",https://proxy.golang.org", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("docker build %s: %v\n%s", dir, err, tail(out, 4000))
		}
	}
	build(tag+":pier", "..")
	t.Log("built pier's image")
	build(tag+":app", "../sample-app")
	t.Log("built the sample app's image")

	out, err := run("image", "inspect", "--format", "{{.Config.User}} {{json .Config.Volumes}} {{json .Config.Healthcheck.Test}} {{index .Config.Labels \"org.opencontainers.image.source\"}}", tag+":pier").CombinedOutput()
	if err != nil {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	for _, want := range []string{"pier ", `"/var/lib/pier":{}`, "/healthz", "github.com/pierhq/pier"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pier's image: want %q in %s", want, out)
		}
	}

	token := "image-test-admin-token"
	pier := startContainer(t, run, tag+":pier", "-e", "PIER_ADMIN_TOKEN="+token)
	app := startContainer(t, run, tag+":app")
	waitHealthy(t, run, pier)
	waitHealthy(t, run, app)
	t.Log("both containers are healthy")

	// A push from inside the container (it has no network but loopback):
	// a static site, built by the built-in static buildpack.
	push := `set -e
cd "$(mktemp -d)" && echo '<h1>served from a container</h1>' > index.html
git init -q -b main && git -c user.name=t -c user.email=t@t add -A && git -c user.name=t -c user.email=t@t commit -qm site
PIER_API=http://127.0.0.1:7070 PIER_TOKEN=$T pier apps create site
git -c credential.helper='!f() { echo username=pier; echo "password=$T"; }; f' push -q http://127.0.0.1:7070/git/site.git main 2>&1
for i in $(seq 60); do curl -fsS -H 'Host: site.localhost' http://127.0.0.1:8080/ && exit 0; sleep 1; done; exit 1`
	out, err = run("exec", "-e", "T="+token, pier, "sh", "-c", push).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "served from a container") {
		logs, _ := run("logs", pier).CombinedOutput()
		t.Fatalf("push into the container: %v\n%s\nagent:\n%s", err, tail(out, 3000), tail(logs, 3000))
	}
}

func startContainer(t *testing.T, run func(...string) *exec.Cmd, image string, args ...string) string {
	t.Helper()
	out, err := run(append(append([]string{"run", "-d", "--network", "none"}, args...), image)...).Output()
	if err != nil {
		t.Fatalf("docker run %s: %v", image, err)
	}
	id := strings.TrimSpace(string(out))
	t.Cleanup(func() { _ = run("rm", "-f", id).Run() })
	return id
}

func waitHealthy(t *testing.T, run func(...string) *exec.Cmd, id string) {
	t.Helper()
	var status []byte
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		status, _ = run("inspect", "--format", "{{.State.Health.Status}}", id).Output()
		switch strings.TrimSpace(string(status)) {
		case "healthy":
			return
		case "unhealthy":
			deadline = time.Now()
		}
	}
	logs, _ := run("logs", id).CombinedOutput()
	t.Fatalf("container %.12s is %s, not healthy:\n%s", id, bytes.TrimSpace(status), tail(logs, 3000))
}

// moduleProxy serves this machine's module cache as a GOPROXY on
// loopback (the build runs with the host's network).
func moduleProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return "http://" + ln.Addr().String()
}

// rootfs is a tar of host files under new names.
type rootfs struct {
	f     *os.File
	tw    *tar.Writer
	seen  map[string]bool
	links map[uint64]string // inode → first path, for hard links
}

func newRootfs(t *testing.T) *rootfs {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "rootfs-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r := &rootfs{f: f, seen: map[string]bool{}, links: map[uint64]string{}}
	r.tw = tar.NewWriter(f)
	r.dir("tmp", 0o1777)
	for _, d := range []string{"root", "etc", "usr/bin", "usr/sbin", "usr/lib", "usr/lib64", "usr/local/bin", "run", "proc", "sys", "dev", "var/lib"} {
		r.dir(d, 0o755)
	}
	// Debian's merged /usr: /bin is /usr/bin, and so on.
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		r.seen[d] = true
		_ = r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: d, Linkname: "usr/" + d, Mode: 0o777})
	}
	return r
}

// merged is name under Debian's merged /usr.
func merged(name string) string {
	name = strings.Trim(name, "/")
	for _, d := range []string{"bin", "sbin", "lib", "lib64"} {
		if name == d || strings.HasPrefix(name, d+"/") {
			return "usr/" + name
		}
	}
	return name
}

func (r *rootfs) dir(name string, mode int64) {
	name = merged(name)
	if name == "" || name == "." || r.seen[name+"/"] {
		return
	}
	r.dir(filepath.Dir(name), 0o755)
	r.seen[name+"/"] = true
	_ = r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: mode})
}

func (r *rootfs) file(name string, data []byte, mode int64) {
	name = merged(name)
	if r.seen[name] {
		return
	}
	r.dir(filepath.Dir(name), 0o755)
	r.seen[name] = true
	_ = r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))})
	_, _ = r.tw.Write(data)
}

// copy adds the host path src at dst: files, symlinks (as links), hard
// links (once), and directories recursively.
func (r *rootfs) copy(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		name := merged(filepath.Join(dst, strings.TrimPrefix(p, src)))
		if r.seen[name] {
			return nil
		}
		switch {
		case fi.IsDir():
			r.dir(name, int64(fi.Mode().Perm()))
		case fi.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			r.dir(filepath.Dir(name), 0o755)
			r.seen[name] = true
			return r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
		case fi.Mode().IsRegular():
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
				if first, ok := r.links[st.Ino]; ok {
					r.seen[name] = true
					return r.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: first})
				}
				r.links[st.Ino] = name
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			r.file(name, data, int64(fi.Mode().Perm()))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("copying %s: %v", src, err)
	}
}

// binaries adds host programs with the shared libraries ldd finds.
func (r *rootfs) binaries(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		real, err := filepath.EvalSymlinks(p)
		if err != nil {
			t.Fatalf("stand-in image: %s: %v", p, err)
		}
		data, err := os.ReadFile(real)
		if err != nil {
			t.Fatal(err)
		}
		r.file(p, data, 0o755)
		out, _ := exec.Command("ldd", real).Output()
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "/") && !r.seen[merged(f)] {
				lib, err := filepath.EvalSymlinks(f)
				if err != nil {
					continue
				}
				data, err := os.ReadFile(lib)
				if err != nil {
					t.Fatal(err)
				}
				r.file(f, data, 0o755)
			}
		}
	}
}

func (r *rootfs) tar(t *testing.T) io.Reader {
	t.Helper()
	if err := r.tw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	return r.f
}

// goRootfs: this machine's Go toolchain at /usr/local/go, a shell, CAs.
func goRootfs(t *testing.T) io.Reader {
	t.Helper()
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	r := newRootfs(t)
	r.binaries(t, "/bin/sh")
	r.copy(t, strings.TrimSpace(string(out)), "/usr/local/go")
	r.copy(t, "/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt")
	return r.tar(t)
}

// debianRootfs: what pier's final stage uses of Debian, from this
// machine: a shell and coreutils, git with its helpers, curl, bash,
// groupadd/useradd and the files they edit, and an apt-get that only says
// the packages are there.
func debianRootfs(t *testing.T) io.Reader {
	t.Helper()
	r := newRootfs(t)
	var bins []string
	for _, b := range []string{"sh", "bash", "cat", "head", "grep", "mkdir", "chown", "chmod", "rm", "cp", "mktemp", "seq", "sleep", "echo", "ls", "env", "git", "curl"} {
		p, err := exec.LookPath(b)
		if err != nil {
			t.Fatalf("stand-in image: %s not on this machine: %v", b, err)
		}
		bins = append(bins, "/usr/bin/"+filepath.Base(p))
		_ = p
	}
	for i, b := range bins {
		if _, err := os.Stat(b); err != nil {
			bins[i] = "/bin/" + filepath.Base(b)
		}
	}
	r.binaries(t, bins...)
	r.binaries(t, "/usr/sbin/groupadd", "/usr/sbin/useradd", "/usr/sbin/nologin")
	r.copy(t, "/usr/lib/git-core", "/usr/lib/git-core")
	r.binaries(t, "/usr/lib/git-core/git-remote-http", "/usr/lib/git-core/git-http-backend")
	for _, f := range []string{"/etc/login.defs", "/etc/ssl/certs/ca-certificates.crt"} {
		r.copy(t, f, f)
	}
	r.file("etc/passwd", []byte("root:x:0:0:root:/root:/bin/sh\n"), 0o644)
	r.file("etc/group", []byte("root:x:0:\n"), 0o644)
	r.file("etc/shadow", []byte("root:*:19000:0:99999:7:::\n"), 0o640)
	r.file("etc/gshadow", []byte("root:*::\n"), 0o640)
	r.file("usr/bin/apt-get", []byte("#!/bin/sh\necho \"stand-in base image: apt-get $* skipped: git, curl and CAs come from the host\"\n"), 0o755)
	return r.tar(t)
}

func importRootfs(t *testing.T, run func(...string) *exec.Cmd, image string, fs io.Reader, changes ...string) {
	t.Helper()
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	cmd := run(append(args, "-", image)...)
	cmd.Stdin = fs
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker import %s: %v\n%s", image, err, out)
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
