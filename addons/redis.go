package addons

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// redisKind runs a Redis server per add-on, with its data appended to a
// file (appendonly) so that a restart keeps it.
type redisKind struct{ bins Binaries }

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
`, s.Port, spec.Password, s.dataDir(), spec.Limits.MemoryMB, spec.Limits.MaxConnections)
	p := k.confPath(s)
	if err := os.WriteFile(p, []byte(conf), 0o600); err != nil {
		return err
	}
	return s.User.Chown(p)
}

func (k redisKind) command(s Server) (string, []string) {
	return k.bins.RedisServer, []string{k.confPath(s)}
}

// ready sends PING: a server that answers, even that it wants the
// password first, is up.
func (k redisKind) ready(ctx context.Context, s Server) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.Addr())
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
