package addons

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pierhq/pier/internal/proc"
	"github.com/pierhq/pier/sandbox"
)

// binaries finds the servers' programs; a test skips without the one it
// needs, or fails when PIER_REQUIRE names it ("postgres", "redis").
func binaries(t *testing.T, typ string) Binaries {
	t.Helper()
	b := FindBinaries(os.Getenv("PIER_POSTGRES_BIN"), os.Getenv("PIER_REDIS_SERVER"))
	missing := typ == Postgres && len(b.Postgres) == 0 || typ == Redis && (b.RedisServer == "" || b.RedisCLI == "")
	if !missing {
		return b
	}
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == typ {
			t.Fatalf("%s is required (PIER_REQUIRE) but not installed: scripts/install-test-deps installs it", typ)
		}
	}
	t.Skipf("%s is not installed (scripts/install-test-deps installs it)", typ)
	return b
}

// testUser is a user of pier's range when the test may switch users (as
// root), else the test's own. The top of the range stays clear of the ids
// agents give apps, lowest first.
func testUser(t *testing.T, n int) sandbox.Identity {
	if sandbox.CanSwitch() != nil {
		return sandbox.Identity{}
	}
	uid := sandbox.DefaultRange.Last - 20 - n
	return sandbox.Identity{UID: uid, GID: uid}
}

func newManager(t *testing.T, dir string, b Binaries) *Manager {
	t.Helper()
	m, err := New(Options{Dir: dir, Bins: b, Logf: t.Logf, OnEvent: func(name, msg string) { t.Logf("%s: %s", name, msg) }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func reachable(t *testing.T) string {
	// The server's user must reach the directory: t.TempDir's parents are
	// searchable; the dir itself is made 0711.
	d := t.TempDir()
	os.Chmod(d, 0o711)
	os.Chmod(filepath.Dir(d), 0o711)
	return filepath.Join(d, "addons")
}

func TestPostgresServerSurvivesCrashAndManager(t *testing.T) {
	b := binaries(t, Postgres)
	dir := reachable(t)
	m := newManager(t, dir, b)
	ctx := context.Background()
	pw := randomPassword()
	s, err := m.Create(ctx, Spec{Name: "shop-db", Type: Postgres, User: testUser(t, 0), Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	conn := ConnOf(s, pw)
	if _, err := m.Query(ctx, s, conn, "CREATE TABLE t (v text); INSERT INTO t VALUES ('kept')"); err != nil {
		t.Fatal(err)
	}
	if bad := (Conn{Addr: conn.Addr, Port: conn.Port, User: conn.User, Database: conn.Database, Password: "wrong"}); true {
		if _, err := m.Query(ctx, s, bad, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "password authentication failed") {
			t.Fatalf("a wrong password: %v, want password authentication failed", err)
		}
	}
	if fi, err := os.Stat(filepath.Join(s.Dir, "data")); err != nil || int(fi.Sys().(*syscall.Stat_t).Uid) != max(s.User.UID, os.Geteuid()) {
		t.Fatalf("data dir: %v, owner %v, want uid %d", err, fi.Sys().(*syscall.Stat_t).Uid, s.User.UID)
	}
	// A crash: the server comes back on the same port with its data.
	syscall.Kill(s.PID, syscall.SIGKILL)
	waitFor(t, func() bool { x, _ := m.Get("shop-db"); return x.PID != s.PID && x.State == StateUp })
	rows, err := m.Query(ctx, s, conn, "SELECT v FROM t")
	if err != nil || len(rows) != 1 || rows[0][0] != "kept" {
		t.Fatalf("after a crash: %v %v", rows, err)
	}
	// A new manager (the agent restarted) adopts the running server.
	now, _ := m.Get("shop-db")
	m.Close()
	m = newManager(t, dir, b)
	defer m.Close()
	again, _ := m.Get("shop-db")
	if again.PID != now.PID || !proc.IsOurs(again.PID, again.PStart) {
		t.Fatalf("not re-adopted: pid %d, was %d", again.PID, now.PID)
	}
	if err := m.Destroy(ctx, "shop-db"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir); !os.IsNotExist(err) || proc.IsOurs(again.PID, again.PStart) {
		t.Fatalf("destroy left the dir (%v) or the process", err)
	}
}

func TestRedisServer(t *testing.T) {
	b := binaries(t, Redis)
	dir := reachable(t)
	m := newManager(t, dir, b)
	defer m.Close()
	ctx := context.Background()
	pw := randomPassword()
	s, err := m.Create(ctx, Spec{Name: "cache", Type: Redis, User: testUser(t, 1), Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(ctx, "cache")
	cli := func(conn Conn, args ...string) string { return redisCLI(m, s, conn, args...) }
	conn := ConnOf(s, pw)
	if got := cli(conn, "SET", "k", "v"); got != "OK" {
		t.Fatalf("SET: %q", got)
	}
	if got := cli(Conn{Password: "wrong"}, "GET", "k"); !strings.Contains(got, "WRONGPASS") && !strings.Contains(got, "NOAUTH") {
		t.Fatalf("a wrong password: %q", got)
	}
	syscall.Kill(s.PID, syscall.SIGKILL)
	waitFor(t, func() bool { x, _ := m.Get("cache"); return x.PID != s.PID && x.State == StateUp })
	if got := cli(conn, "GET", "k"); got != "v" {
		t.Fatalf("after a crash GET: %q", got)
	}
	if !strings.HasPrefix(URL(s, pw), "redis://default:"+pw+"@127.0.0.1:") {
		t.Fatalf("URL %s", URL(s, pw))
	}
}

func TestCreateRefusesAndLeavesNothing(t *testing.T) {
	b := binaries(t, Postgres)
	dir := reachable(t)
	m := newManager(t, dir, b)
	defer m.Close()
	ctx := context.Background()
	for _, spec := range []Spec{
		{Name: "x", Type: Postgres, Version: "1"},
		{Name: "x", Type: "mysql"},
		{Name: "Bad_Name", Type: Postgres},
	} {
		if _, err := m.Create(ctx, spec); err == nil {
			t.Fatalf("%+v was made", spec)
		} else {
			t.Logf("%+v: %v", spec, err)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "state.json" {
			t.Errorf("left behind: %s", e.Name())
		}
	}
	if len(m.List()) != 0 {
		t.Errorf("servers: %v", m.List())
	}
}

// redisCLI runs redis-cli on s as conn and returns its output.
func redisCLI(m *Manager, s Server, conn Conn, args ...string) string {
	var out bytes.Buffer
	m.Client(context.Background(), s, conn, "redis-cli", append(RedisArgs(s), args...), nil, &out)
	return strings.TrimSpace(out.String())
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestServerThatCannotStart: a server that exits at once is an error that
// quotes its output, and leaves nothing behind.
func TestServerThatCannotStart(t *testing.T) {
	dir := reachable(t)
	fake := filepath.Join(t.TempDir(), "redis-server")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\necho 'FATAL: cannot start on purpose'\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := newManager(t, dir, Binaries{RedisServer: fake, RedisVersion: "7"})
	defer m.Close()
	_, err := m.Create(context.Background(), Spec{Name: "broken", Type: Redis, Password: "x"})
	if err == nil || !strings.Contains(err.Error(), "did not start") || !strings.Contains(err.Error(), "cannot start on purpose") {
		t.Fatalf("Create of a server that exits: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "broken")); !os.IsNotExist(err) {
		t.Errorf("its directory is left: %v", err)
	}
	if len(m.List()) != 0 {
		t.Errorf("servers: %+v", m.List())
	}
}

// TestPortTakenWhileDown: a server that ended while no manager watched,
// whose port another process took meanwhile, is not started elsewhere: it
// waits, crashed, on the backoff, and comes back on its port once free.
func TestPortTakenWhileDown(t *testing.T) {
	b := binaries(t, Redis)
	dir := reachable(t)
	m := newManager(t, dir, b)
	ctx := context.Background()
	s, err := m.Create(ctx, Spec{Name: "cache", Type: Redis, User: testUser(t, 2), Password: randomPassword()})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	syscall.Kill(s.PID, syscall.SIGKILL)
	var ws syscall.WaitStatus
	syscall.Wait4(s.PID, &ws, 0, nil) // the test's child: no manager reaps it now
	l, err := net.Listen("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	m = newManager(t, dir, b)
	defer m.Close()
	defer m.Destroy(ctx, "cache")
	time.Sleep(2 * time.Second)
	if x, _ := m.Get("cache"); x.State != StateCrashed || x.Port != s.Port {
		t.Errorf("with its port taken: %+v, want crashed on port %d", x, s.Port)
	}
	l.Close()
	waitFor(t, func() bool { x, _ := m.Get("cache"); return x.State == StateUp && x.Port == s.Port })
}

// TestRedisServerFromSnapshot: a snapshot taken with `redis-cli --rdb`
// from a running server seeds a new one, which starts with its keys and
// keeps what is written after across a crash; a file that is no snapshot
// is refused and leaves nothing.
func TestRedisServerFromSnapshot(t *testing.T) {
	b := binaries(t, Redis)
	dir := reachable(t)
	m := newManager(t, dir, b)
	defer m.Close()
	ctx := context.Background()
	pw := randomPassword()
	cli := func(s Server, args ...string) string { return redisCLI(m, s, ConnOf(s, pw), args...) }
	src, err := m.Create(ctx, Spec{Name: "old", Type: Redis, User: testUser(t, 3), Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(ctx, "old")
	cli(src, "SET", "greeting", "hello")
	rdb := filepath.Join(t.TempDir(), "snap.rdb")
	start := time.Now()
	if out := cli(src, "--rdb", rdb); !strings.Contains(out, "Transfer finished with success") {
		t.Fatalf("redis-cli --rdb: %s", out)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the snapshot took %s: the server waits for replicas (repl-diskless-sync-delay)", d)
	}
	s, err := m.Create(ctx, Spec{Name: "new", Type: Redis, User: testUser(t, 4), Password: pw, Seed: rdb})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(ctx, "new")
	if got := cli(s, "GET", "greeting"); got != "hello" {
		t.Fatalf("the seeded server's GET greeting = %q", got)
	}
	cli(s, "SET", "after", "kept")
	syscall.Kill(s.PID, syscall.SIGKILL)
	waitFor(t, func() bool { x, _ := m.Get("new"); return x.PID != s.PID && x.State == StateUp })
	if got := cli(s, "MGET", "greeting", "after"); got != "hello\nkept" {
		t.Fatalf("after a crash MGET = %q", got)
	}

	junk := filepath.Join(t.TempDir(), "junk.rdb")
	os.WriteFile(junk, []byte("not a snapshot"), 0o600)
	if _, err := m.Create(ctx, Spec{Name: "junk", Type: Redis, Password: pw, Seed: junk}); err == nil || !strings.Contains(err.Error(), "not an RDB file") {
		t.Fatalf("a seed that is no snapshot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "junk")); !os.IsNotExist(err) {
		t.Errorf("a refused seed left its directory: %v", err)
	}
}

// TestCreateOnAFullDisk: a server whose files do not fit on the disk is an
// error that says so and what to do, and leaves nothing behind. The disk
// is a small tmpfs, which needs root; the test skips without it.
func TestCreateOnAFullDisk(t *testing.T) {
	b := binaries(t, Postgres)
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	parent := t.TempDir()
	os.Chmod(parent, 0o711)
	os.Chmod(filepath.Dir(parent), 0o711)
	disk := filepath.Join(parent, "disk")
	if err := os.Mkdir(disk, 0o711); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=4m,mode=0711"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	defer syscall.Unmount(disk, syscall.MNT_DETACH)
	dir := filepath.Join(disk, "addons")
	m := newManager(t, dir, b)
	defer m.Close()
	_, err := m.Create(context.Background(), Spec{Name: "big", Type: Postgres, User: testUser(t, 5), Password: randomPassword()})
	if err == nil || !strings.Contains(err.Error(), "No space left on device") || !strings.Contains(err.Error(), "free space on the disk of "+dir) {
		t.Fatalf("Create on a full disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "big")); !os.IsNotExist(err) {
		t.Errorf("its directory is left: %v", err)
	}
	if len(m.List()) != 0 {
		t.Errorf("servers: %+v", m.List())
	}
}

// hostAddress is an address of this host's beyond loopback, for a server
// asked to listen there; the test skips on a host with none.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	t.Skip("this host has no address beyond loopback")
	return ""
}

// TestTLSBeyondLoopback: a server asked to listen beyond loopback serves
// TLS only there and on 127.0.0.1: a plain client is refused, one that
// verifies the server with the authority pier gives gets in; the URL
// says so (sslmode=require, rediss://).
func TestTLSBeyondLoopback(t *testing.T) {
	pgBins := binaries(t, Postgres)
	redisBins := binaries(t, Redis)
	b := pgBins
	b.RedisServer, b.RedisCLI, b.RedisVersion = redisBins.RedisServer, redisBins.RedisCLI, redisBins.RedisVersion
	ip := hostAddress(t)
	dir := reachable(t)
	m := newManager(t, dir, b)
	defer m.Close()
	ctx := context.Background()
	pw := randomPassword()
	ca := filepath.Join(t.TempDir(), "ca.crt")

	pg, err := m.Create(ctx, Spec{Name: "pgtls", Type: Postgres, User: testUser(t, 6), Password: pw, Listen: ip})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(ctx, "pgtls")
	if err := os.WriteFile(ca, []byte(pg.CACert()), 0o600); err != nil || !strings.Contains(pg.CACert(), "BEGIN CERTIFICATE") {
		t.Fatalf("the authority: %q %v", pg.CACert(), err)
	}
	if want := "postgres://pgtls:" + pw + "@" + ip + ":" + strconv.Itoa(pg.Port) + "/pgtls?sslmode=require"; URL(pg, pw) != want {
		t.Errorf("URL = %s, want %s", URL(pg, pw), want)
	}
	psql, _ := b.PostgresTool(pg.Version, "psql")
	for _, host := range []string{ip, "127.0.0.1"} {
		q := func(sslmode string) (string, error) {
			cmd := exec.Command(psql, "-X", "-A", "-t", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
				fmt.Sprintf("host=%s port=%d user=pgtls dbname=pgtls sslmode=%s sslrootcert=%s", host, pg.Port, sslmode, ca))
			cmd.Env = append(serverEnv(), "PGPASSWORD="+pw)
			out, err := cmd.CombinedOutput()
			return strings.TrimSpace(string(out)), err
		}
		if out, err := q("disable"); err == nil || !strings.Contains(out, "no encryption") {
			t.Errorf("a plain connection to %s: %v %s", host, err, out)
		}
		if out, err := q("verify-full"); err != nil || out != "t" {
			t.Errorf("a verified TLS connection to %s: %v %s", host, err, out)
		}
	}
	if rows, err := m.Query(ctx, pg, ConnOf(pg, pw), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"); err != nil || rows[0][0] != "t" {
		t.Errorf("the agent's own client: %v %v", rows, err)
	}

	rd, err := m.Create(ctx, Spec{Name: "redistls", Type: Redis, User: testUser(t, 7), Password: pw, Listen: ip})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Destroy(ctx, "redistls")
	if want := "rediss://default:" + pw + "@" + ip + ":" + strconv.Itoa(rd.Port); URL(rd, pw) != want {
		t.Errorf("URL = %s, want %s", URL(rd, pw), want)
	}
	os.WriteFile(ca, []byte(rd.CACert()), 0o600)
	for _, host := range []string{ip, "127.0.0.1"} {
		cli := func(args ...string) string {
			cmd := exec.Command(b.RedisCLI, append([]string{"-h", host, "-p", strconv.Itoa(rd.Port)}, args...)...)
			cmd.Env = append(serverEnv(), "REDISCLI_AUTH="+pw)
			out, _ := cmd.CombinedOutput()
			return strings.TrimSpace(string(out))
		}
		if out := cli("PING"); out == "PONG" {
			t.Errorf("a plain PING to %s answered", host)
		}
		if out := cli("--tls", "--cacert", ca, "PING"); out != "PONG" {
			t.Errorf("a verified TLS PING to %s: %q", host, out)
		}
	}
	if out := redisCLI(m, rd, ConnOf(rd, pw), "PING"); out != "PONG" {
		t.Errorf("the agent's own client: %q", out)
	}
	// A snapshot for pier backup goes over TLS too.
	if out := redisCLI(m, rd, ConnOf(rd, pw), "--rdb", filepath.Join(t.TempDir(), "snap.rdb")); !strings.Contains(out, "Transfer finished with success") {
		t.Errorf("a snapshot over TLS: %s", out)
	}

	for _, bad := range []string{"0.0.0.0", "127.0.0.1", "203.0.113.99", "db.example"} {
		if _, err := m.Create(ctx, Spec{Name: "bad", Type: Redis, Password: pw, Listen: bad}); err == nil || !strings.Contains(err.Error(), "--listen") {
			t.Errorf("Listen %s: %v", bad, err)
		}
	}
}
