package gitserver

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/renameio/v2"

	"golang.org/x/crypto/ssh"
)

// Defaults of SSHServer's limits.
const (
	DefaultSSHMaxConns         = 100
	DefaultSSHMaxPreAuthPerIP  = 8
	DefaultSSHHandshakeTimeout = 10 * time.Second
	DefaultSSHIdleTimeout      = 5 * time.Minute
)

// userExtension carries who pushes from authentication to the sessions.
const userExtension = "pier-user"

// keyData is the ExtraData key of the public key a connection
// authenticated with.
type keyData struct{}

// peer is who a connection authenticated as.
type peer struct {
	user string
	key  ssh.PublicKey
	fp   string // the key's SHA256 fingerprint
}

// SSHServer receives pushes (and serves fetches) over SSH:
// ssh://git@HOST:PORT/APP.git. Any login name is accepted, as with Heroku's
// git@; the public key decides who pushes. It runs git's own receive-pack
// and upload-pack in the repositories of Git, with the same pre-receive hook
// and hook environment as the HTTP path.
type SSHServer struct {
	// Git owns the repositories, the apps and the hook environment.
	Git *Server
	// HostKeyPath is the server's ed25519 key, generated on first start.
	HostKeyPath string
	// Authorize maps a client's public key to who pushes (the key's name).
	Authorize func(key ssh.PublicKey) (user string, ok bool)
	// Permit decides, before each git command, whether the key may push
	// to (push) or fetch from app; its error is the message the client
	// sees. Nil permits every command of an authorized key.
	Permit func(key ssh.PublicKey, app string, push bool) error
	// Ran is told of every git command that ran, with git's exit status.
	Ran  func(key ssh.PublicKey, app string, push bool, code int, remote net.Addr)
	Logf func(format string, args ...any)

	MaxConns int // open connections at most (DefaultSSHMaxConns)
	// MaxPreAuthPerIP caps the connections of one client address (an IPv6
	// /64) that have not authenticated yet (DefaultSSHMaxPreAuthPerIP), so
	// that one client's idle connections cannot take every slot of
	// MaxConns. Loopback addresses count as any other.
	MaxPreAuthPerIP  int
	HandshakeTimeout time.Duration // to authenticate (DefaultSSHHandshakeTimeout)
	// IdleTimeout closes a connection that has carried nothing for this long
	// while no git command runs (DefaultSSHIdleTimeout).
	IdleTimeout time.Duration

	mu      sync.Mutex
	config  *ssh.ServerConfig
	ctx     context.Context // cancelled by Close: ends every command
	cancel  context.CancelFunc
	lns     map[net.Listener]bool
	conns   map[net.Conn]bool
	byKey   map[string]map[net.Conn]bool // authenticated connections by key fingerprint
	preAuth map[string]int               // connections still authenticating, by clientOf
	refused map[string]*refusals         // by clientOf, for a log line per burst
	closing bool
	wg      sync.WaitGroup // connection goroutines
}

// Serve accepts connections on ln until Shutdown or Close, which make it
// return http.ErrServerClosed; any other error is returned as it happens.
func (s *SSHServer) Serve(ln net.Listener) error {
	if err := s.init(ln); err != nil {
		ln.Close()
		return err
	}
	defer s.untrack(ln)
	var delay time.Duration
	for {
		conn, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accepting SSH connections: %w", err)
		}
		delay = 0
		if !s.admit(conn) {
			continue
		}
		go s.handleConn(conn)
	}
}

// init loads the host key once and registers ln.
func (s *SSHServer) init(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return http.ErrServerClosed
	}
	if s.config == nil {
		signer, err := LoadOrCreateHostKey(s.HostKeyPath)
		if err != nil {
			return err
		}
		cfg := &ssh.ServerConfig{
			PublicKeyCallback: s.checkKey,
			ServerVersion:     "SSH-2.0-pier",
		}
		cfg.AddHostKey(signer)
		s.config = cfg
		s.ctx, s.cancel = context.WithCancel(context.Background())
		s.lns = map[net.Listener]bool{}
		s.conns = map[net.Conn]bool{}
		s.byKey = map[string]map[net.Conn]bool{}
		s.preAuth = map[string]int{}
		s.refused = map[string]*refusals{}
	}
	s.lns[ln] = true
	return nil
}

func (s *SSHServer) untrack(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.lns, ln)
}

func (s *SSHServer) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// admit registers conn as authenticating, or closes it when the server is
// full, its client has too many connections authenticating, or the server
// is closing.
func (s *SSHServer) admit(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		conn.Close()
		return false
	}
	client := clientOf(conn.RemoteAddr())
	switch {
	case len(s.conns) >= s.maxConns():
		conn.Close()
		s.logRefusal(client, fmt.Sprintf("%d connections are open already", len(s.conns)))
		return false
	case s.preAuth[client] >= s.maxPreAuthPerIP():
		conn.Close()
		s.logRefusal(client, fmt.Sprintf("%d of its connections are authenticating already", s.preAuth[client]))
		return false
	}
	s.preAuth[client]++
	s.conns[conn] = true
	s.wg.Add(1)
	return true
}

// authenticated ends conn's count among its client's authenticating
// connections, whether the handshake succeeded or not.
func (s *SSHServer) authenticated(conn net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	client := clientOf(conn.RemoteAddr())
	if s.preAuth[client]--; s.preAuth[client] <= 0 {
		delete(s.preAuth, client)
	}
}

// refusals counts the connections refused from one client since the
// last log line about it.
type refusals struct {
	logged time.Time
	n      int
}

// refusalLogEvery is how often a client's refused connections are logged:
// once per burst, not per connection.
const refusalLogEvery = time.Minute

// logRefusal logs a refused connection of client, at most once per
// refusalLogEvery, with how many were refused since. Called with s.mu.
func (s *SSHServer) logRefusal(client, why string) {
	r := s.refused[client]
	if r == nil {
		r = &refusals{}
		s.refused[client] = r
	}
	r.n++
	if time.Since(r.logged) < refusalLogEvery {
		return
	}
	s.logf("ssh: refused %d connection(s) from %s: %s (logged at most once a minute)", r.n, client, why)
	r.logged, r.n = time.Now(), 0
	for c, old := range s.refused { // forget quiet clients
		if time.Since(old.logged) > refusalLogEvery && old.n == 0 {
			delete(s.refused, c)
		}
	}
}

// clientOf is the address a client's connections are counted under: its
// IPv4 address, or the /64 of its IPv6 address.
func clientOf(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return addr.String()
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return ip4.String()
	}
	return (&net.IPNet{IP: ta.IP.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}

func (s *SSHServer) forget(conn net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, conn)
}

// checkKey authenticates a client by its public key alone.
func (s *SSHServer) checkKey(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if s.Authorize == nil {
		return nil, errors.New("no SSH keys are allowed")
	}
	user, ok := s.Authorize(key)
	if !ok {
		return nil, fmt.Errorf("unknown SSH key %s: add it with `pier keys add`", ssh.FingerprintSHA256(key))
	}
	return &ssh.Permissions{
		Extensions: map[string]string{userExtension: user},
		ExtraData:  map[any]any{keyData{}: key},
	}, nil
}

// CloseKey closes at once every connection authenticated with the key of
// this SHA256 fingerprint, and the git commands they run; it returns how
// many it closed. Call it when a key stops being allowed: without it, a
// connection kept open (ssh's ControlMaster) would go on pushing.
func (s *SSHServer) CloseKey(fingerprint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for c := range s.byKey[fingerprint] {
		c.Close()
		n++
	}
	if n > 0 {
		s.logf("ssh: closed %d connection(s) of key %s", n, fingerprint)
	}
	return n
}

// trackKey records an authenticated connection under its key's fingerprint
// until the returned function is called.
func (s *SSHServer) trackKey(fp string, conn net.Conn) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byKey[fp] == nil {
		s.byKey[fp] = map[net.Conn]bool{}
	}
	s.byKey[fp][conn] = true
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.byKey[fp], conn)
		if len(s.byKey[fp]) == 0 {
			delete(s.byKey, fp)
		}
	}
}

// Shutdown stops accepting, waits until the open connections end or ctx is
// done, then closes what is left as Close does.
func (s *SSHServer) Shutdown(ctx context.Context) error {
	s.stopListening()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	s.Close()
	return err
}

// Close stops accepting, ends every connection and the git commands they
// run, and waits for their goroutines.
func (s *SSHServer) Close() error {
	s.stopListening()
	s.mu.Lock()
	if s.cancel != nil {
		s.cancel()
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

func (s *SSHServer) stopListening() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for ln := range s.lns {
		ln.Close()
	}
}

// handleConn authenticates one connection and serves its sessions.
func (s *SSHServer) handleConn(raw net.Conn) {
	defer s.wg.Done()
	defer s.forget(raw)
	defer raw.Close()
	conn := &idleConn{Conn: raw}
	conn.touch()
	_ = raw.SetDeadline(time.Now().Add(s.handshakeTimeout()))
	sconn, chans, reqs, err := ssh.NewServerConn(conn, s.config)
	s.authenticated(raw)
	if err != nil {
		return // a port scanner, an unknown key or a timeout: nothing to say
	}
	_ = raw.SetDeadline(time.Time{})
	key, _ := sconn.Permissions.ExtraData[keyData{}].(ssh.PublicKey)
	if key == nil {
		sconn.Close()
		return
	}
	who := peer{user: sconn.Permissions.Extensions[userExtension], key: key, fp: ssh.FingerprintSHA256(key)}
	defer s.trackKey(who.fp, raw)()
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()

	var wg sync.WaitGroup
	closed := make(chan struct{})
	wg.Add(3)
	go func() { defer wg.Done(); ssh.DiscardRequests(reqs) }()
	go func() { defer wg.Done(); s.serveChannels(ctx, conn, chans, who) }()
	go func() { defer wg.Done(); _ = sconn.Wait(); close(closed) }()
	s.watchIdle(ctx, conn, closed)
	sconn.Close()
	cancel()
	wg.Wait()
}

// watchIdle returns when the connection closes, the server closes, or the
// connection has been idle too long with no command running.
func (s *SSHServer) watchIdle(ctx context.Context, conn *idleConn, closed <-chan struct{}) {
	timeout := s.idleTimeout()
	tick := time.NewTicker(max(timeout/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-closed:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
			if conn.busy.Load() == 0 && conn.idleFor() >= timeout {
				return
			}
		}
	}
}

func (s *SSHServer) maxConns() int {
	if s.MaxConns > 0 {
		return s.MaxConns
	}
	return DefaultSSHMaxConns
}

func (s *SSHServer) maxPreAuthPerIP() int {
	if s.MaxPreAuthPerIP > 0 {
		return s.MaxPreAuthPerIP
	}
	return DefaultSSHMaxPreAuthPerIP
}

func (s *SSHServer) handshakeTimeout() time.Duration {
	if s.HandshakeTimeout > 0 {
		return s.HandshakeTimeout
	}
	return DefaultSSHHandshakeTimeout
}

func (s *SSHServer) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return DefaultSSHIdleTimeout
}

func (s *SSHServer) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// idleConn records when the connection last carried data and how many git
// commands run on it, for the idle limit.
type idleConn struct {
	net.Conn
	last atomic.Int64 // unix nanoseconds
	busy atomic.Int32
}

func (c *idleConn) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *idleConn) idleFor() time.Duration {
	return time.Since(time.Unix(0, c.last.Load()))
}

func (c *idleConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

// LoadOrCreateHostKey reads the ed25519 host key at path, or generates one
// and writes it there (mode 0600) so that clients see the same host key
// after a restart.
func LoadOrCreateHostKey(path string) (ssh.Signer, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		signer, err := ssh.ParsePrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("reading the SSH host key %s: %w (move it away to generate a new one; clients will then warn that the host key changed)", path, err)
		}
		return signer, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("reading the SSH host key: %w", err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating the SSH host key: %w", err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "pier host key")
	if err != nil {
		return nil, fmt.Errorf("encoding the SSH host key: %w", err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("writing the SSH host key: %w", err)
	}
	return ssh.NewSignerFromKey(priv)
}

// writeFileAtomic writes a file that survives a crash whole or not at all
// (a temp file beside it, fsync, rename).
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	return renameio.WriteFile(path, data, mode)
}
