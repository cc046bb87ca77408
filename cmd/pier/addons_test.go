package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// requireAddonServers skips the test without PostgreSQL's and Redis'
// programs, and fails it when PIER_REQUIRE names them (postgres, redis).
func requireAddonServers(t *testing.T) {
	t.Helper()
	pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(pg) == 0 {
		if _, err := exec.LookPath("initdb"); err != nil {
			missingBinary(t, "postgres")
		}
	}
	requireBinary(t, "psql")
	if _, err := exec.LookPath("redis-server"); err != nil {
		missingBinary(t, "redis")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		missingBinary(t, "redis")
	}
}

func missingBinary(t *testing.T, name string) {
	t.Helper()
	for _, r := range strings.Split(os.Getenv("PIER_REQUIRE"), ",") {
		if strings.TrimSpace(r) == name {
			t.Fatalf("%s is required (PIER_REQUIRE) but not installed: scripts/install-test-deps installs it", name)
		}
	}
	t.Skipf("%s is not installed: skipping", name)
}

// newDBAppRepo is a checkout of testdata/apps/dbapp with the app built
// into bin/dbapp.
func newDBAppRepo(t *testing.T) *gitRepo {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"Procfile", "app.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "apps", "dbapp", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", filepath.Join(dir, "bin", "dbapp"), ".")
	cmd.Dir = filepath.Join("testdata", "apps", "dbapp")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=", "GOWORK=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the dbapp fixture: %v\n%s", err, b)
	}
	r := &gitRepo{t: t, dir: dir}
	r.git("init", "-q", "-b", "main")
	r.git("config", "http.postBuffer", "67108864")
	r.commit("dbapp")
	return r
}

// send makes a request of app through the proxy.
func (a *agentProc) send(method, app, path string) (int, string) {
	a.t.Helper()
	req, err := http.NewRequest(method, "http://"+a.httpAddr+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Host = app + ".localhost"
	resp, err := proxyClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// TestAddonPostgres: a PostgreSQL add-on for an app, end to end. Creating
// it sets DATABASE_URL in a new release whose release command migrates;
// the app writes and reads rows; a backup captured under load restores a
// dropped table; the database keeps serving the app while the agent is
// killed with SIGKILL, and the next agent re-adopts its server; a release
// whose migration fails leaves the live release and its schema as they
// were; sharing with another app, bad input and roles.
func TestAddonPostgres(t *testing.T) {
	needE2E(t)
	requireAddonServers(t)
	// No watch window: the test breaks the app on purpose (a dropped
	// table answers 500), which the watch of a release just live would
	// rightly roll back to the standby, without the add-on's DATABASE_URL.
	a := startAgent(t, agentOpts{extra: []string{"PIER_WATCH_WINDOW=0s"}})
	const app = "shop"
	a.mustPier("apps", "create", app)
	repo := newDBAppRepo(t)
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	if code, body := a.send("GET", app, "/items"); code != 503 {
		t.Fatalf("before the add-on GET /items = %d %s, want 503", code, body)
	}

	// A create whose release fails (its migration does) leaves nothing:
	// no add-on, no server, no DATABASE_URL, v1 live.
	a.mustPier("config", "set", "-a", app, "MIGRATION_SQL=SELECT 1/0") // v2: no database, nothing to migrate
	if r := a.pier("addons", "create", "postgres", "-a", app); r.code == 0 || !strings.Contains(r.stderr, "was removed") {
		t.Fatalf("a create whose release fails: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var none []api.Addon
	a.pierJSON(&none, "addons", "list", "-a", app)
	if _, err := os.Stat(filepath.Join(a.dataDir, "addons", "shop-postgres")); len(none) != 0 || !os.IsNotExist(err) {
		t.Fatalf("after a failed create: add-ons %+v, its directory: %v", none, err)
	}
	if r := a.pier("config", "get", "-a", app, "DATABASE_URL"); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("after a failed create DATABASE_URL = %q", r.stdout)
	}
	wantStatuses(t, a, app, map[int]string{2: api.StatusLive, 3: api.StatusFailed})
	a.mustPier("config", "unset", "-a", app, "MIGRATION_SQL") // v4

	out := a.mustPier("addons", "create", "postgres", "-a", app)
	if !strings.Contains(out, "Created shop-postgres (postgres") || !strings.Contains(out, "as DATABASE_URL") {
		t.Fatalf("addons create printed %q", out)
	}
	rel := lastRelease(t, a, app)
	if rel.Version != 5 || rel.Status != api.StatusLive || rel.Description != "Set DATABASE_URL" {
		t.Fatalf("the release of the add-on: v%d %s %q", rel.Version, rel.Status, rel.Description)
	}
	url := strings.TrimSpace(a.mustPier("config", "get", "-a", app, "DATABASE_URL"))
	if !strings.HasPrefix(url, "postgres://shop_postgres:") || !strings.Contains(url, "@127.0.0.1:") {
		t.Fatalf("DATABASE_URL = %q", url)
	}
	password := strings.TrimPrefix(strings.Split(url, "@")[0], "postgres://shop_postgres:")
	if code, body := a.send("POST", app, "/items?v=kept"); code != 200 {
		t.Fatalf("POST /items = %d %s", code, body)
	}
	if code, body := a.send("GET", app, "/items"); code != 200 || body != "kept" {
		t.Fatalf("GET /items = %d %q, want kept", code, body)
	}
	var list []api.Addon
	a.pierJSON(&list, "addons", "list", "-a", app)
	if len(list) != 1 || list[0].Name != "shop-postgres" || list[0].State != "up" || list[0].Port == 0 {
		t.Fatalf("addons list = %+v", list)
	}
	// The server listens on loopback only and wants the password.
	if b, err := exec.Command("psql", "-X", "-h", "127.0.0.1", "-p", fmt.Sprint(list[0].Port), "-U", "shop_postgres", "-d", "shop_postgres", "-w", "-c", "select 1").CombinedOutput(); err == nil {
		t.Errorf("psql without the password got in: %s", b)
	}
	info := a.mustPier("pg", "info", "-a", app)
	if !strings.Contains(info, "PostgreSQL 15") && !strings.Contains(info, "PostgreSQL") || !strings.Contains(info, "Tables:      1") {
		t.Errorf("pg info:\n%s", info)
	}

	// A backup under continuous load, a dropped table, a restore.
	var writes, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if code, _ := a.send("POST", app, fmt.Sprintf("/items?v=load-%d", i)); code == 200 {
				writes.Add(1)
			} else {
				failures.Add(1)
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	var b api.PgBackup
	a.pierJSON(&b, "pg", "backups", "capture", "-a", app)
	if b.ID != "b001" || b.SizeBytes == 0 {
		t.Fatalf("capture = %+v", b)
	}
	if f := failures.Load(); f != 0 {
		t.Errorf("%d of the app's writes failed while the backup ran", f)
	}
	a.mustPier("pg", "psql", "-a", app, "-c", "DROP TABLE items")
	if code, _ := a.send("GET", app, "/items"); code != 500 {
		t.Errorf("GET /items after the drop = %d, want 500", code)
	}
	if r := a.pier("pg", "backups", "restore", "-a", app, "b001"); r.code == 0 || !strings.Contains(r.stderr, "--confirm shop") {
		t.Errorf("a restore without --confirm: exit %d %s", r.code, r.stderr)
	}
	a.mustPier("pg", "backups", "restore", "-a", app, "b001", "--confirm", app)
	if code, body := a.send("GET", app, "/items"); code != 200 || body != "kept" {
		t.Fatalf("after the restore GET /items = %d %q, want kept", code, body)
	}
	failures.Store(0)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if f := failures.Load(); f != 0 || writes.Load() == 0 {
		t.Errorf("after the restore %d writes failed (%d succeeded in all)", f, writes.Load())
	}
	// A damaged dump: the restore fails and the database is as it was.
	bad := filepath.Join(a.dataDir, "addon-backups", "shop-postgres", "b999.dump")
	if err := os.WriteFile(bad, []byte("PGDMP not really a dump"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := a.pier("pg", "backups", "restore", "-a", app, "b999", "--confirm", app); r.code == 0 || !strings.Contains(r.stderr, "the database is as it was") {
		t.Errorf("the restore of a damaged dump: exit %d %s", r.code, r.stderr)
	}
	os.Remove(bad)
	// A dump from a newer server (its header says so: PostgreSQL 17's
	// pg_dump writes archive version 1.16): refused with what to do.
	good, err := os.ReadFile(filepath.Join(a.dataDir, "addon-backups", "shop-postgres", "b001.dump"))
	if err != nil {
		t.Fatal(err)
	}
	newer := append([]byte(nil), good...)
	newer[6] = 16
	if err := os.WriteFile(bad, newer, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := a.pier("pg", "backups", "restore", "-a", app, "b999", "--confirm", app); r.code == 0 ||
		!strings.Contains(r.stderr, "the database is as it was") || !strings.Contains(r.stderr, "unsupported version (1.16)") ||
		!strings.Contains(r.stderr, "made by a newer PostgreSQL") || !strings.Contains(r.stderr, "--version") {
		t.Errorf("the restore of a newer server's dump: exit %d %s", r.code, r.stderr)
	}
	os.Remove(bad)
	if code, body := a.send("GET", app, "/items"); code != 200 || body != "kept" {
		t.Fatalf("after a failed restore GET /items = %d %q, want kept", code, body)
	}
	if out := a.mustPier("pg", "backups", "list", "-a", app); !strings.Contains(out, "b001") {
		t.Errorf("backups list:\n%s", out)
	}
	dump := filepath.Join(t.TempDir(), "shop.dump")
	a.mustPier("pg", "backups", "download", "-a", app, "b001", "-o", dump)
	if out, err := exec.Command("pg_restore", "--list", dump).CombinedOutput(); err != nil || !strings.Contains(string(out), "TABLE public items") {
		t.Errorf("pg_restore --list of the download: %v\n%s", err, out)
	}

	// psql reads SQL from its input too.
	r := a.pierWithInput("SELECT 'from-stdin-' || count(*) FROM items WHERE v = 'kept';\n", "pg", "psql", "-a", app)
	if r.code != 0 || !strings.Contains(r.stdout, "from-stdin-1") {
		t.Errorf("psql with SQL on its input: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// SIGKILL the agent: the database keeps serving the app.
	// The proxy is the agent's: the app is asked directly meanwhile.
	before := addonOf(t, a, app, "shop-postgres")
	web := ""
	for _, in := range psOf(t, a, app) {
		if in.Type == "web" && in.State == api.StateUp && in.Release == 5 {
			web = in.Addr
		}
	}
	a.kill()
	resp, err := http.Post("http://"+web+"/items?v=while-down", "text/plain", nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("with the agent killed POST %s/items = %v %v", web, resp, err)
	}
	resp.Body.Close()
	a.start()
	if code, body := a.send("GET", app, "/items"); code != 200 || body != "kept,while-down" {
		t.Fatalf("after the restart GET /items = %d %q", code, body)
	}
	after := addonOf(t, a, app, "shop-postgres")
	if after.State != "up" || after.Port != before.Port || after.Restarts != 0 {
		t.Errorf("after the agent's restart the add-on is %+v, was %+v: want it re-adopted, not restarted", after, before)
	}

	// A release whose migration fails: the live release and the schema stay.
	r = a.pier("config", "set", "-a", app, "MIGRATION_SQL=ALTER TABLE items ADD COLUMN broken int; SELECT 1/0")
	if r.code == 0 {
		t.Fatalf("a failing migration deployed:\n%s", r.stdout)
	}
	if !strings.Contains(r.stderr, "release command") {
		t.Errorf("the failed deploy says %q", r.stderr)
	}
	wantStatuses(t, a, app, map[int]string{5: api.StatusLive, 6: api.StatusFailed})
	if out := a.mustPier("pg", "psql", "-a", app, "-c", `\d items`); strings.Contains(out, "broken") || !strings.Contains(out, "id") {
		t.Errorf("the schema after the failed migration:\n%s", out)
	}
	if code, body := a.send("GET", app, "/items"); code != 200 || body != "kept,while-down" {
		t.Errorf("after the failed migration GET /items = %d %q", code, body)
	}

	// Sharing: a worker app gets the same database; then it lets go.
	a.mustPier("apps", "create", "shop-worker")
	if out := a.mustPier("addons", "attach", "-a", "shop-worker", "shop-postgres"); !strings.Contains(out, "as DATABASE_URL") {
		t.Errorf("attach printed %q", out)
	}
	if got := strings.TrimSpace(a.mustPier("config", "get", "-a", "shop-worker", "DATABASE_URL")); got != url {
		t.Errorf("the worker's DATABASE_URL = %q, want the owner's", got)
	}
	if r := a.pier("addons", "attach", "-a", "shop-worker", "shop-postgres"); r.code == 0 || !strings.Contains(r.stderr, "already attached") {
		t.Errorf("a second attach: exit %d %s", r.code, r.stderr)
	}
	a.mustPier("addons", "detach", "-a", "shop-worker", "shop-postgres")
	if r := a.pier("config", "get", "-a", "shop-worker", "DATABASE_URL"); r.code == 0 && strings.TrimSpace(r.stdout) != "" {
		t.Errorf("after detach the worker still has DATABASE_URL %q", r.stdout)
	}

	// Bad input: a clear error and nothing made.
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"addons", "create", "mysql", "-a", app}, "unknown add-on type"},
		{[]string{"addons", "create", "postgres:standard-0", "-a", app}, `unknown plan "standard-0"`},
		{[]string{"addons", "create", "postgres", "-a", app, "--version", "99"}, "PostgreSQL 99 is not installed"},
		{[]string{"addons", "create", "postgres", "-a", app, "--name", "shop-postgres"}, "already exists"},
		{[]string{"addons", "create", "postgres", "-a", app, "--as", "DATABASE"}, "already has DATABASE_URL"},
		{[]string{"addons", "destroy", "-a", app, "shop-postgres"}, "--confirm shop-postgres"},
		{[]string{"addons", "attach", "-a", "nosuchapp", "shop-postgres"}, "not found"},
		{[]string{"addons", "create", "postgres", "-a", "nosuchapp"}, "not found"},
	} {
		if r := a.pier(bad.args...); r.code == 0 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("pier %s: exit %d, want an error with %q:\n%s%s", strings.Join(bad.args, " "), r.code, bad.want, r.stdout, r.stderr)
		}
	}
	a.pierJSON(&list, "addons", "list", "-a", app)
	if len(list) != 1 {
		t.Errorf("after the bad input the add-ons are %+v", list)
	}
	if ents, _ := os.ReadDir(filepath.Join(a.dataDir, "addons")); len(ents) != 2 { // state.json and shop-postgres
		t.Errorf("after the bad input %s holds %d entries", filepath.Join(a.dataDir, "addons"), len(ents))
	}

	// A read token lists, and neither opens psql nor downloads.
	var reader api.Token
	mustJSON(t, a.mustPier("tokens", "create", "--json", "--role", "read", "looker"), &reader)
	admin := a.token
	a.token = reader.Secret
	a.mustPier("addons", "list", "-a", app)
	a.mustPier("pg", "info", "-a", app)
	if r := a.pier("pg", "psql", "-a", app, "-c", "SELECT v FROM items"); r.code == 0 || strings.Contains(r.stdout, "kept") || !strings.Contains(r.stderr, "needs deploy") {
		t.Errorf("a read token's psql: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := a.pier("pg", "backups", "download", "-a", app, "b001", "-o", dump+".2"); r.code == 0 || !strings.Contains(r.stderr, "needs deploy") {
		t.Errorf("a read token's download: exit %d %s", r.code, r.stderr)
	}
	a.token = admin

	// Secrets stay out of the agent's log and the app's log.
	if strings.Contains(a.logs(), password) {
		t.Error("the agent's log holds the database password")
	}
	if out := a.mustPier("logs", "-a", app, "-n", "1000"); strings.Contains(out, password) {
		t.Error("the app's log holds the database password")
	}

	// Destroying the add-on takes DATABASE_URL off (a release) and its data.
	a.mustPier("addons", "destroy", "-a", app, "shop-postgres", "--confirm", "shop-postgres")
	if rel := lastRelease(t, a, app); rel.Description != "Unset DATABASE_URL" || rel.Status != api.StatusLive {
		t.Errorf("after destroy the newest release is %q %s", rel.Description, rel.Status)
	}
	if _, err := os.Stat(filepath.Join(a.dataDir, "addons", "shop-postgres")); !os.IsNotExist(err) {
		t.Errorf("the add-on's directory is still there: %v", err)
	}
}

// TestAddonRedis: a Redis add-on sets REDIS_URL; the app sets and gets a
// key; the server is restarted after a crash with its data; destroying it
// unsets REDIS_URL.
func TestAddonRedis(t *testing.T) {
	needE2E(t)
	requireAddonServers(t)
	a := startAgent(t, agentOpts{})
	const app = "cache"
	a.mustPier("apps", "create", app)
	a.mustPier("addons", "create", "redis", "-a", app) // before the first deploy: no release
	repo := newDBAppRepo(t)
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	if code, body := a.send("POST", app, "/kv/greeting?v=hello"); code != 200 {
		t.Fatalf("POST /kv = %d %s", code, body)
	}
	if code, body := a.send("GET", app, "/kv/greeting"); code != 200 || body != "hello" {
		t.Fatalf("GET /kv = %d %q", code, body)
	}
	if r := a.pier("redis", "cli", "-a", app, "--", "GET", "greeting"); r.code != 0 || strings.TrimSpace(r.stdout) != "hello" {
		t.Errorf("redis cli GET: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	// A crash of the server: it comes back with its data.
	before := addonOf(t, a, app, "cache-redis")
	pidFile, _ := filepath.Glob(filepath.Join(a.dataDir, "addons", "state.json"))
	if len(pidFile) == 1 {
		var st struct {
			Servers []struct {
				Name string `json:"name"`
				PID  int    `json:"pid"`
			} `json:"servers"`
		}
		b, _ := os.ReadFile(pidFile[0])
		json.Unmarshal(b, &st)
		for _, s := range st.Servers {
			if s.Name == "cache-redis" {
				exec.Command("kill", "-9", fmt.Sprint(s.PID)).Run()
			}
		}
	}
	waitFor(t, 30*time.Second, "the Redis server to come back", func() bool {
		code, body := a.send("GET", app, "/kv/greeting")
		return code == 200 && body == "hello"
	})
	if after := addonOf(t, a, app, "cache-redis"); after.Restarts < 1 || after.Port != before.Port {
		t.Errorf("after the crash: %+v (before %+v)", after, before)
	}
	a.mustPier("addons", "destroy", "-a", app, "cache-redis", "--confirm", "cache-redis")
	if rel := lastRelease(t, a, app); rel.Description != "Unset REDIS_URL" {
		t.Errorf("after destroy the newest release is %q", rel.Description)
	}
	if code, _ := a.send("GET", app, "/kv/greeting"); code != 503 {
		t.Errorf("after destroy GET /kv = %d, want 503", code)
	}
	// Beyond loopback: TLS only, a rediss:// URL, the authority in info,
	// and pier's own redis-cli still gets in; a bad address makes nothing.
	if r := a.pier("addons", "create", "redis", "-a", app, "--name", "cache-bad", "--listen", "0.0.0.0"); r.code == 0 || !strings.Contains(r.stderr, "would listen everywhere") {
		t.Errorf("--listen 0.0.0.0: exit %d %s", r.code, r.stderr)
	}
	if ip := hostAddress(); ip != "" {
		a.mustPier("addons", "create", "redis", "-a", app, "--name", "cache-tls", "--as", "CACHE_TLS", "--listen", ip)
		tlsURL := strings.TrimSpace(a.mustPier("config", "get", "-a", app, "CACHE_TLS_URL"))
		if !strings.HasPrefix(tlsURL, "rediss://default:") || !strings.Contains(tlsURL, "@"+ip+":") {
			t.Errorf("CACHE_TLS_URL = %q", tlsURL)
		}
		ad := addonOf(t, a, app, "cache-tls")
		if !ad.TLS || ad.Listen != ip || !strings.Contains(ad.CACert, "BEGIN CERTIFICATE") {
			t.Errorf("addons info of cache-tls: %+v", ad)
		}
		if out := a.mustPier("addons", "info", "-a", app, "cache-tls"); !strings.Contains(out, "TLS only") {
			t.Errorf("addons info:\n%s", out)
		}
		if r := a.pier("redis", "cli", "-a", app, "--addon", "cache-tls", "--", "PING"); r.code != 0 || strings.TrimSpace(r.stdout) != "PONG" {
			t.Errorf("redis cli on the TLS add-on: exit %d %q %s", r.code, r.stdout, r.stderr)
		}
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(ip, fmt.Sprint(ad.Port)), 5*time.Second); err == nil {
			c.SetDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if strings.Contains(line, "PONG") || strings.Contains(line, "NOAUTH") {
				t.Errorf("a plain client beyond loopback got %q", line)
			}
		}
	}

	// Destroying the app destroys the add-ons it owns.
	a.mustPier("addons", "create", "redis", "-a", app, "--name", "cache-sessions")
	a.mustPier("apps", "destroy", "-a", app, "--confirm", app)
	if _, err := os.Stat(filepath.Join(a.dataDir, "addons", "cache-sessions")); !os.IsNotExist(err) {
		t.Errorf("the add-on of a destroyed app is still there: %v", err)
	}
}

// hostAddress is an IPv4 address of this host's beyond loopback, "" when
// it has none.
func hostAddress() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			return n.IP.String()
		}
	}
	return ""
}

func addonOf(t *testing.T, a *agentProc, app, name string) api.Addon {
	t.Helper()
	var ad api.Addon
	a.pierJSON(&ad, "addons", "info", "-a", app, name)
	return ad
}

// pierWithInput runs the CLI with input on its standard input.
func (a *agentProc) pierWithInput(input string, args ...string) cliResult {
	a.t.Helper()
	cmd := exec.Command(pierBin, args...)
	cmd.Env = append(os.Environ(), "PIER_API=http://"+a.apiAddr, "PIER_TOKEN="+a.token, "PIER_APP=", "XDG_CONFIG_HOME="+a.t.TempDir())
	cmd.Stdin = strings.NewReader(input)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	return cliResult{out.String(), errb.String(), code}
}

// TestAddonInPierBackup: pier backup create takes a fresh pg_dump of a
// PostgreSQL add-on and a snapshot of a Redis one; the Redis data is
// flushed and the VM is lost; an agent started on the restored data dir
// makes the add-ons' servers again, with their passwords and ports, loads
// the dump and the snapshot, and the app reads its row through the same
// DATABASE_URL and its key through the same REDIS_URL.
func TestAddonInPierBackup(t *testing.T) {
	needE2E(t)
	requireAddonServers(t)
	a := startAgent(t, agentOpts{})
	const app = "ledger"
	a.mustPier("apps", "create", app)
	a.mustPier("addons", "create", "postgres", "-a", app)
	a.mustPier("addons", "create", "redis", "-a", app)
	repo := newDBAppRepo(t)
	repo.remote(a, app, a.token)
	mustPush(t, repo, "Released v1")
	if code, body := a.send("POST", app, "/items?v=before-the-backup"); code != 200 {
		t.Fatalf("POST /items = %d %s", code, body)
	}
	if code, body := a.send("POST", app, "/kv/greeting?v=kept-in-redis"); code != 200 {
		t.Fatalf("POST /kv = %d %s", code, body)
	}
	url := strings.TrimSpace(a.mustPier("config", "get", "-a", app, "DATABASE_URL"))
	redisURL := strings.TrimSpace(a.mustPier("config", "get", "-a", app, "REDIS_URL"))
	backups := t.TempDir()
	if r := a.pier("backup", "create", "--to", backups); r.code != 0 {
		t.Fatalf("pier backup create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	a.mustPier("redis", "cli", "-a", app, "--", "FLUSHALL")
	if code, body := a.send("GET", app, "/kv/greeting"); code == 200 && body == "kept-in-redis" {
		t.Fatalf("after FLUSHALL GET /kv/greeting = %d %q", code, body)
	}
	files, _ := filepath.Glob(filepath.Join(backups, "pier-backup-*.tar.gz"))
	if len(files) != 1 {
		t.Fatalf("backups: %v", files)
	}
	if out := a.mustPier("pg", "backups", "list", "-a", app); !strings.Contains(out, "b001") {
		t.Errorf("pier backup left no add-on backup:\n%s", out)
	}
	key, err := os.ReadFile(filepath.Join(a.dataDir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	a.stop()
	killApps(a.dataDir) // the apps and the database server with them

	dir := filepath.Join(reachableTempDir(t), "pier-data")
	if r := a.pier("backup", "restore", files[0], "--data-dir", dir); r.code != 0 {
		t.Fatalf("pier backup restore: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b := startAgent(t, agentOpts{dataDir: dir})
	b.token = a.token
	waitFor(t, 90*time.Second, "the app reading its row again", func() bool {
		code, body := b.send("GET", app, "/items")
		return code == 200 && body == "before-the-backup"
	})
	waitFor(t, 60*time.Second, "the app reading its Redis key again", func() bool {
		code, body := b.send("GET", app, "/kv/greeting")
		return code == 200 && body == "kept-in-redis"
	})
	if got := strings.TrimSpace(b.mustPier("config", "get", "-a", app, "DATABASE_URL")); got != url {
		t.Errorf("DATABASE_URL after the restore = %q, want %q", got, url)
	}
	if got := strings.TrimSpace(b.mustPier("config", "get", "-a", app, "REDIS_URL")); got != redisURL {
		t.Errorf("REDIS_URL after the restore = %q, want %q", got, redisURL)
	}
	for _, name := range []string{"ledger-postgres", "ledger-redis"} {
		waitFor(t, 30*time.Second, name+" up after the restore", func() bool { return addonOf(t, b, app, name).State == "up" })
	}
}
