package addons

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Binaries are where the servers' programs are: PostgreSQL's bin
// directory per major version, and redis-server with its version.
type Binaries struct {
	Postgres     map[string]string // major version -> bin dir (initdb, postgres, psql, pg_dump ...)
	RedisServer  string
	RedisCLI     string
	RedisVersion string // major version of RedisServer
}

// FindBinaries looks for the servers' programs. pgBin, when set, is a
// PostgreSQL bin directory to use alone; else every
// /usr/lib/postgresql/*/bin (Debian's layout) and the one on PATH count.
// redisServer, when set, is the redis-server to use; else PATH's.
func FindBinaries(pgBin, redisServer string) Binaries {
	b := Binaries{Postgres: map[string]string{}}
	var dirs []string
	if pgBin != "" {
		dirs = []string{pgBin}
	} else {
		dirs, _ = filepath.Glob("/usr/lib/postgresql/*/bin")
		if p, err := exec.LookPath("postgres"); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	for _, d := range dirs {
		if v := postgresMajor(filepath.Join(d, "postgres")); v != "" {
			if _, ok := b.Postgres[v]; !ok {
				b.Postgres[v] = d
			}
		}
	}
	if redisServer == "" {
		redisServer, _ = exec.LookPath("redis-server")
	}
	if redisServer != "" {
		if v := redisMajor(redisServer); v != "" {
			b.RedisServer, b.RedisVersion = redisServer, v
			if cli := filepath.Join(filepath.Dir(redisServer), "redis-cli"); isFile(cli) {
				b.RedisCLI = cli
			} else if cli, err := exec.LookPath("redis-cli"); err == nil {
				b.RedisCLI = cli
			}
		}
	}
	return b
}

var (
	pgVersionRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\(PostgreSQL\) (\d+)`) })
	redisVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`v=(\d+)\.`) })
)

func postgresMajor(prog string) string {
	return versionOf(prog, pgVersionRE())
}

func redisMajor(prog string) string {
	return versionOf(prog, redisVersionRE())
}

func versionOf(prog string, re *regexp.Regexp) string {
	if !isFile(prog) {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, "--version").Output()
	if err != nil {
		return ""
	}
	m := re.FindSubmatch(out)
	if m == nil {
		return ""
	}
	return string(m[1])
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir()
}

// PostgresVersions are the installed major versions, oldest first.
func (b Binaries) PostgresVersions() []string {
	var vs []string
	for v := range b.Postgres {
		vs = append(vs, v)
	}
	slices.SortFunc(vs, func(x, y string) int { return atoi(x) - atoi(y) })
	return vs
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// postgresVersion picks the version to run: want when it is installed, the
// newest for "".
func (b Binaries) postgresVersion(want string) (string, error) {
	vs := b.PostgresVersions()
	if len(vs) == 0 {
		return "", fmt.Errorf("PostgreSQL is not installed on the agent's host: install it (Debian: apt-get install postgresql), or point --postgres-bin at its bin directory")
	}
	if want == "" {
		return vs[len(vs)-1], nil
	}
	if _, ok := b.Postgres[want]; !ok {
		return "", fmt.Errorf("PostgreSQL %s is not installed here: choose one of %s", want, strings.Join(vs, ", "))
	}
	return want, nil
}

func (b Binaries) redisVersion(want string) (string, error) {
	if b.RedisServer == "" {
		return "", fmt.Errorf("Redis is not installed on the agent's host: install it (Debian: apt-get install redis-server), or point --redis-server at it")
	}
	if want != "" && want != b.RedisVersion {
		return "", fmt.Errorf("Redis %s is not installed here: choose %s", want, b.RedisVersion)
	}
	return b.RedisVersion, nil
}

// PostgresTool is the path of a PostgreSQL program (psql, pg_dump,
// pg_restore) of version.
func (b Binaries) PostgresTool(version, name string) (string, error) {
	d, ok := b.Postgres[version]
	if !ok {
		return "", fmt.Errorf("PostgreSQL %s is no longer installed here", version)
	}
	p := filepath.Join(d, name)
	if !isFile(p) {
		if lp, err := exec.LookPath(name); err == nil {
			return lp, nil
		}
		return "", fmt.Errorf("%s of PostgreSQL %s is not installed (Debian: apt-get install postgresql-client)", name, version)
	}
	return p, nil
}
