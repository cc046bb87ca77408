package pgqueue

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testDB is a throwaway PostgreSQL cluster of the host's packages, run as
// nobody when the test runs as root (PostgreSQL refuses root). It skips
// without PostgreSQL, or fails when PIER_REQUIRE names postgres.
func testDB(t *testing.T) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(bins)
	if len(bins) == 0 {
		if strings.Contains(","+os.Getenv("PIER_REQUIRE")+",", ",postgres,") {
			t.Fatal("postgres is required (PIER_REQUIRE) but not installed")
		}
		t.Skip("PostgreSQL is not installed")
	}
	bin := bins[len(bins)-1]
	dir := t.TempDir()
	attr := &syscall.SysProcAttr{Setsid: true}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("nobody")
		if err != nil {
			t.Skip("running as root with no user nobody to run PostgreSQL as")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		for _, d := range []string{dir, filepath.Dir(dir)} {
			os.Chmod(d, 0o711)
		}
		os.Chown(dir, uid, gid)
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "app", "--auth=trust", "--no-locale", "-E", "UTF8")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir)
	srv.SysProcAttr = attr
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Signal(syscall.SIGINT); srv.Wait() })
	url := fmt.Sprintf("postgres://app@127.0.0.1:%d/postgres", port)
	for i := 0; ; i++ {
		s, err := Open(context.Background(), url)
		if err == nil {
			err = s.pool.Ping(context.Background())
			s.Close()
		}
		if err == nil {
			return url
		}
		if i == 100 {
			t.Fatalf("PostgreSQL did not start: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestQueue(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDB(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := s.Migrate(ctx)
	if err != nil || !strings.Contains(r, "upgraded to version 1") {
		t.Fatalf("Migrate = %q, %v", r, err)
	}
	if r, err := s.Migrate(ctx); err != nil || !strings.Contains(r, "nothing to do") {
		t.Fatalf("Migrate again = %q, %v", r, err)
	}
	for i := range 20 {
		if err := s.Enqueue(ctx, fmt.Sprintf("job-%02d", i), "text"); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Enqueue(ctx, "job-00", "again"); err == nil {
		t.Error("a second job of the same name was queued")
	}
	// Four workers share the queue: every job goes to exactly one.
	var mu sync.Mutex
	got := map[string]int{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, ok, err := s.Claim(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if !ok {
					return
				}
				if err := s.Finish(ctx, j, []byte(`{"job":"`+j.Name+`"}`), false); err != nil {
					t.Error(err)
				}
				mu.Lock()
				got[j.Name]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 20 {
		t.Errorf("%d jobs handled, want 20", len(got))
	}
	for name, n := range got {
		if n != 1 {
			t.Errorf("%s handled %d times", name, n)
		}
	}
	if res, ok, err := s.Result(ctx, "job-07"); err != nil || !ok || !strings.Contains(string(res), "job-07") {
		t.Errorf("Result = %s %v %v", res, ok, err)
	}
	if n, _ := s.Pending(ctx); n != 0 {
		t.Errorf("pending %d", n)
	}
	// A migration that fails changes nothing.
	Migrations = append(Migrations, Migration{2, "a broken step", "ALTER TABLE jobs ADD COLUMN broken int; SELECT 1/0"})
	defer func() { Migrations = Migrations[:1] }()
	if _, err := s.Migrate(ctx); err == nil || !strings.Contains(err.Error(), "nothing of it was applied") {
		t.Errorf("a failing migration: %v", err)
	}
	var cols int
	s.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'jobs' AND column_name = 'broken'`).Scan(&cols)
	if cols != 0 {
		t.Error("the failed migration's column is there")
	}
}
