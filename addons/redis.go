package addons

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// redisKind runs a Redis server per add-on, with its data appended to a
// file (appendonly) so that a restart keeps it.
type redisKind struct{ bins Binaries }

// A Redis server made from a snapshot (Spec.Seed, an RDB file as
// `redis-cli --rdb` writes it) starts with the snapshot as the base of
// its append-only file: with appendonly on, Redis reads its AOF and
// ignores a dump.rdb beside it. Redis 7 keeps the AOF in parts under
// appendonlydir/, listed by a manifest, and a base part may be in RDB
// format; Redis 6 reads an appendonly.aof that starts with an RDB
// preamble.
const (
	aofDir      = "appendonlydir"
	aofManifest = "appendonly.aof.manifest"
	aofBaseRDB  = "appendonly.aof.1.base.rdb"
)

func (k redisKind) confPath(s Server) string { return filepath.Join(s.dataDir(), "redis.conf") }

// init writes redis.conf, which holds the password: it is the server
// user's alone (0600).
func (k redisKind) init(ctx context.Context, s Server, spec Spec) error {
	conf := fmt.Sprintf(`# Set by pier: the add-on listens on 127.0.0.1 only, with a password.
bind 127.0.0.1
port %d
protected-mode yes
requirepass "%s"
dir "%s"
appendonly yes
appendfsync everysec
maxmemory %dmb
maxmemory-policy noeviction
maxclients %d
daemonize no
logfile ""
# A snapshot for a backup (redis-cli --rdb) starts at once.
repl-diskless-sync-delay 0
`, s.Port, spec.Password, s.dataDir(), spec.Limits.MemoryMB, spec.Limits.MaxConnections)
	if s.TLS {
		// The plain port is off (port 0); TLS on the add-on's port, on
		// both addresses.
		conf += fmt.Sprintf(`# Set by pier: beyond loopback, TLS only.
bind 127.0.0.1 %s
port 0
tls-port %d
tls-cert-file "%s"
tls-key-file "%s"
tls-ca-cert-file "%s"
tls-auth-clients no
tls-protocols "TLSv1.2 TLSv1.3"
`, s.Listen, s.Port, s.certPath(), s.keyPath(), s.caPath())
	}
	p := k.confPath(s)
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		return err
	}
	if err := s.User.Chown(p); err != nil {
		return err
	}
	if spec.Seed != "" {
		if err := k.seed(s, spec.Seed); err != nil {
			return fmt.Errorf("loading the snapshot %s: %w", spec.Seed, err)
		}
	}
	return nil
}

// seed lays the RDB snapshot at rdb out as the base of the server's
// append-only file, owned by the server's user.
func (k redisKind) seed(s Server, rdb string) error {
	b, err := os.ReadFile(rdb)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(b, []byte("REDIS")) {
		return errors.New("not an RDB file (it does not start with REDIS)")
	}
	if atoi(s.Version) < 7 {
		p := filepath.Join(s.dataDir(), "appendonly.aof")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
		return s.User.Chown(p)
	}
	dir := filepath.Join(s.dataDir(), aofDir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	files := map[string][]byte{
		aofBaseRDB:  b,
		aofManifest: []byte("file " + aofBaseRDB + " seq 1 type b\n"),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return s.User.ChownTree(dir)
}

func (k redisKind) command(s Server) (string, []string) {
	return k.bins.RedisServer, []string{k.confPath(s)}
}

// ready sends PING: a server that answers, even that it wants the
// password first, is up.
func (k redisKind) ready(ctx context.Context, s Server) error {
	var c net.Conn
	var err error
	if s.TLS {
		cfg, cerr := s.clientTLS()
		if cerr != nil {
			return cerr
		}
		c, err = (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", s.Addr())
	} else {
		c, err = (&net.Dialer{}).DialContext(ctx, "tcp", s.Addr())
	}
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH") {
		return nil
	}
	return fmt.Errorf("not ready: %s", strings.TrimSpace(line))
}

func (k redisKind) bootstrap(ctx context.Context, s Server, spec Spec) error { return nil }

// RedisArgs are redis-cli's arguments that reach s: its address, and with
// TLS its authority to verify it with.
func RedisArgs(s Server) []string {
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.Port)}
	if s.TLS {
		args = append(args, "--tls", "--cacert", s.caPath())
	}
	return args
}
