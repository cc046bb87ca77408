package addons

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
)

// Conn is how a client reaches a server: its address and credentials.
type Conn struct {
	Addr     string // 127.0.0.1:PORT
	Port     int
	User     string
	Password string
	Database string
	CA       string // with TLS: the file of the authority to verify the server with
}

// ConnOf is the clients' connection to s with password.
func ConnOf(s Server, password string) Conn {
	c := Conn{Addr: s.Addr(), Port: s.Port, Password: password}
	if s.TLS {
		c.CA = s.caPath()
	}
	if s.Type == Postgres {
		c.User, c.Database = dbName(s.Name), dbName(s.Name)
	} else {
		c.User = "default"
	}
	return c
}

// URL is the URL apps get: DATABASE_URL's postgres://USER:PASS@HOST:PORT/DB
// or REDIS_URL's redis://default:PASS@HOST:PORT. A server with TLS is
// reached on its public address, with sslmode=require (encrypted; a
// client verifies the server only with its authority, CACert), or as
// rediss://.
func URL(s Server, password string) string {
	c := ConnOf(s, password)
	addr := s.PublicAddr()
	switch {
	case s.Type == Postgres && s.TLS:
		return fmt.Sprintf("postgres://%s:%s@%s/%s?sslmode=require", c.User, c.Password, addr, c.Database)
	case s.Type == Postgres:
		return fmt.Sprintf("postgres://%s:%s@%s/%s", c.User, c.Password, addr, c.Database)
	case s.TLS:
		return fmt.Sprintf("rediss://default:%s@%s", c.Password, addr)
	}
	return fmt.Sprintf("redis://default:%s@%s", c.Password, addr)
}

// env is a client's environment: the password goes here, never on its
// command line.
func (c Conn) env(redis bool) []string {
	env := serverEnv()
	if redis {
		return append(env, "REDISCLI_AUTH="+c.Password)
	}
	env = append(env, "PGPASSWORD="+c.Password, "PGHOST=127.0.0.1", "PGPORT="+strconv.Itoa(c.Port),
		"PGUSER="+c.User, "PGDATABASE="+c.Database, "PGCONNECT_TIMEOUT=10")
	if c.CA != "" {
		env = append(env, "PGSSLMODE=verify-full", "PGSSLROOTCERT="+c.CA)
	}
	return env
}

// Client runs a client program of s's type (psql, pg_dump, pg_restore,
// redis-cli) with conn's credentials in its environment; stdin and out may
// be nil. It returns the program's exit code; err is for a program that
// could not run.
func (m *Manager) Client(ctx context.Context, s Server, conn Conn, program string, args []string, stdin io.Reader, out io.Writer) (int, error) {
	prog, err := m.clientProgram(s, program)
	if err != nil {
		return -1, err
	}
	return runClient(ctx, prog, conn.env(s.Type == Redis), args, stdin, out)
}

func (m *Manager) clientProgram(s Server, program string) (string, error) {
	switch {
	case s.Type == Postgres && (program == "psql" || program == "pg_dump" || program == "pg_restore"):
		return m.bins.PostgresTool(s.Version, program)
	case s.Type == Redis && program == "redis-cli":
		if m.bins.RedisCLI == "" {
			return "", errors.New("redis-cli is not installed on the agent's host (Debian: apt-get install redis-tools)")
		}
		return m.bins.RedisCLI, nil
	}
	return "", fmt.Errorf("%s is not a client of %s", program, s.Type)
}

func runClient(ctx context.Context, prog string, env, args []string, stdin io.Reader, out io.Writer) (int, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = env
	cmd.Stdin = stdin
	if out == nil {
		out = io.Discard
	}
	cmd.Stdout, cmd.Stderr = out, out
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, fmt.Errorf("running %s: %w", prog, err)
	}
	return 0, nil
}

// runPsql runs psql on conn with the SQL of stdin and returns its output.
func runPsql(ctx context.Context, bins Binaries, s Server, conn Conn, stdin io.Reader, args ...string) (string, int, error) {
	prog, err := bins.PostgresTool(s.Version, "psql")
	if err != nil {
		return "", -1, err
	}
	var out bytes.Buffer
	code, err := runClient(ctx, prog, conn.env(false), append([]string{"-X", "-v", "ON_ERROR_STOP=1"}, args...), stdin, &out)
	return out.String(), code, err
}

// Query runs one SQL query on s as conn and returns its rows, fields
// separated by '|'.
func (m *Manager) Query(ctx context.Context, s Server, conn Conn, sql string) ([][]string, error) {
	out, code, err := runPsql(ctx, m.bins, s, conn, strings.NewReader(sql), "-A", "-t", "-q")
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("psql: %s", strings.TrimSpace(out))
	}
	var rows [][]string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l != "" {
			rows = append(rows, strings.Split(l, "|"))
		}
	}
	return rows, nil
}
