package addons

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pierhq/pier/sandbox"
)

// postgresKind runs a PostgreSQL cluster per add-on. Its clients use one
// role that owns one database (both named for the add-on); the cluster's
// superuser has a random password that only the first start knows, so
// nobody holds it afterwards.
type postgresKind struct{ bins Binaries }

func (k postgresKind) tool(s Server, name string) (string, error) {
	return k.bins.PostgresTool(s.Version, name)
}

// init runs initdb and writes the server's settings. initdb refuses to run
// as a user with no entry in /etc/passwd (pier's ids have none), so when
// the server has a user of its own the cluster is made as nobody and then
// given to that user.
func (k postgresKind) init(ctx context.Context, s Server, spec Spec) error {
	initdb, err := k.tool(s, "initdb")
	if err != nil {
		return err
	}
	maker := sandbox.Identity{}
	if s.User.Isolated() {
		if maker, err = nobody(); err != nil {
			return err
		}
		if err := maker.Chown(s.dataDir()); err != nil {
			return err
		}
	}
	// initdb reads the superuser's password from a file only its user
	// reads, removed at once.
	pwDir := filepath.Join(s.Dir, ".init")
	if err := os.Mkdir(pwDir, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(pwDir)
	pwFile := filepath.Join(pwDir, "pw")
	if err := os.WriteFile(pwFile, []byte(spec.superPassword+"\n"), 0o600); err != nil {
		return err
	}
	if err := maker.Chown(pwDir); err != nil {
		return err
	}
	if err := maker.Chown(pwFile); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, initdb, "-D", s.dataDir(), "-U", "postgres", "--pwfile="+pwFile,
		"--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-instructions")
	cmd.Env = serverEnv()
	cmd.Dir = s.Dir
	cmd.SysProcAttr = sysProcAttr(maker)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb failed: %w: %s", err, lastLines(string(out), 4))
	}
	conf := fmt.Sprintf(`
# Set by pier: the add-on listens on 127.0.0.1 only, with passwords.
listen_addresses = '%s'
port = %d
unix_socket_directories = '%s'
password_encryption = 'scram-sha-256'
max_connections = %d
shared_buffers = '%dMB'
work_mem = '4MB'
logging_collector = off
`, listenAddresses(s), s.Port, s.runDir(), spec.Limits.MaxConnections, max(spec.Limits.MemoryMB/4, 16))
	if s.TLS {
		conf += fmt.Sprintf(`# Set by pier: beyond loopback, TLS only (pg_hba.conf has hostssl lines alone).
ssl = on
ssl_cert_file = '%s'
ssl_key_file = '%s'
ssl_min_protocol_version = 'TLSv1.2'
`, s.certPath(), s.keyPath())
	}
	if err := appendFile(filepath.Join(s.dataDir(), "postgresql.conf"), conf); err != nil {
		return err
	}
	hba := "# Set by pier: every client gives its password.\n" +
		"local all all scram-sha-256\n" +
		"host  all all 127.0.0.1/32 scram-sha-256\n"
	if s.TLS {
		hba = "# Set by pier: every client gives its password, over TLS (the socket is this host's alone).\n" +
			"local   all all scram-sha-256\n" +
			"hostssl all all 0.0.0.0/0 scram-sha-256\n" +
			"hostssl all all ::/0 scram-sha-256\n"
	}
	if err := os.WriteFile(filepath.Join(s.dataDir(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return err
	}
	return s.User.ChownTree(s.dataDir())
}

func (k postgresKind) command(s Server) (string, []string) {
	prog, err := k.tool(s, "postgres")
	if err != nil {
		prog = "postgres" // the start fails with a clear error
	}
	return prog, []string{"-D", s.dataDir()}
}

// ready asks pg_isready, which tells a server still starting from one that
// accepts connections.
func (k postgresKind) ready(ctx context.Context, s Server) error {
	prog, err := k.tool(s, "pg_isready")
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, prog, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port))
	cmd.Env = serverEnv()
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("not accepting connections yet")
	}
	return nil
}

// bootstrap makes the clients' role and database. The statement that
// holds the password is never logged, even when it fails.
func (k postgresKind) bootstrap(ctx context.Context, s Server, spec Spec) error {
	db := dbName(s.Name)
	sql := fmt.Sprintf(`SET log_min_error_statement = panic;
SET log_statement = none;
CREATE ROLE %[1]s LOGIN PASSWORD '%[2]s';
CREATE DATABASE %[1]s OWNER %[1]s;
REVOKE ALL ON DATABASE %[1]s FROM PUBLIC;
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
`, quoteIdent(db), spec.Password)
	conn := ConnOf(s, spec.superPassword)
	conn.User, conn.Database = "postgres", "postgres"
	out, code, err := runPsql(ctx, k.bins, s, conn, strings.NewReader(sql), "-q")
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("creating the database %s: psql exited with status %d: %s", db, code, strings.TrimSpace(out))
	}
	return nil
}

// listenAddresses is postgresql.conf's listen_addresses of s.
func listenAddresses(s Server) string {
	if s.Listen == "" {
		return "127.0.0.1"
	}
	return "127.0.0.1, " + s.Listen
}

// dbName is the database and role of an add-on: its name with '_' for '-'.
func dbName(addon string) string { return strings.ReplaceAll(addon, "-", "_") }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// nobody is the user a cluster is made as before it is given to the
// server's own user.
func nobody() (sandbox.Identity, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return sandbox.Identity{}, fmt.Errorf("initdb needs a user with an entry in /etc/passwd to make the cluster as, and there is no user nobody: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return sandbox.Identity{UID: uid, GID: gid}, nil
}

func sysProcAttr(id sandbox.Identity) *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{}
	id.Apply(attr)
	return attr
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// randomPassword is 32 random bytes in hex: nothing in a URL or a config
// file needs quoting.
func randomPassword() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// lastLines is the last n lines of a program's output, for an error
// message: the cause is at the end.
func lastLines(out string, n int) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
