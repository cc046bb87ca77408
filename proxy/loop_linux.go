//go:build linux

package proxy

import (
	"cmp"
	"context"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Front's event loops. A goroutine per connection costs Go's scheduler a
// park and a wake on each side of every proxied request, about as much CPU
// as nginx spends on the whole hop. So on Linux, plain-HTTP connections go
// to a few event loops (one per processor) that each watch their client
// and instance connections with epoll and proxy requests for apps, without
// a goroutine or a net/http value.
//
// A loop serves a request only when the proxy would simply forward it: a
// head the lean rules accept (front_parse.go), no body or one that fits in
// the connection's buffer with the head, a host LoopConfig passes on to
// Proxy, and Proxy.admit's verdict forwardIt (admit.go): an app that is
// not in maintenance, a client within its rate limit, a healthy instance.
// The request and answer heads are written and read by the same code as on
// Front's goroutines (heads.go, headers.go); the loops differ only in how
// the bytes move.
//
// This file holds the group of loops; loop_epoll_linux.go one loop's
// machinery, loop_client_linux.go its clients, loop_upstream_linux.go its
// connections to instances, loop_answer_linux.go the answers. The first request that is anything else, and
// a request whose instance cannot be reached, takes the connection to
// Front's goroutines with the bytes not yet answered, where every case is
// handled as before, for as long as it stays open.

// Event-loop limits.
const (
	loopAnswerHeadMax = 64 << 10  // an answer's head; a larger one is a 502
	loopMaxInterim    = 256 << 10 // the heads of the 1xx answers passed on before the final one; more is a 502
	loopReadSize      = 32 << 10  // bytes read from an instance at once
	loopHighWater     = 256 << 10 // a client's unsent bytes past which its instance is not read
	loopLowWater      = 32 << 10  // and below which it is read again
	loopTick          = 250 * time.Millisecond
)

// loopGroup is Front's set of event loops.
type loopGroup struct {
	f      *Front
	p      *Proxy
	direct func(host, path string) bool
	loops  []*evLoop

	headerTimeout, idleTimeout time.Duration // a request head's, an idle connection's
	next                       atomic.Uint32
	closing                    atomic.Bool     // no new connection goes to a loop
	ctx                        context.Context // ends dials once the front closes
	cancel                     context.CancelFunc
}

func newLoopGroup(f *Front, cfg *LoopConfig) (*loopGroup, error) {
	if cfg.Proxy == nil {
		return nil, errors.New("proxy: LoopConfig needs a Proxy")
	}
	n := cfg.Loops
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	g := &loopGroup{f: f, p: cfg.Proxy, direct: cfg.Direct,
		headerTimeout: cmp.Or(cfg.headerTimeout, ServerReadHeaderTimeout), idleTimeout: cmp.Or(cfg.idleTimeout, ServerIdleTimeout)}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	for range n {
		l, err := newEvLoop(g)
		if err != nil {
			for _, l := range g.loops {
				l.ep.Close()
				unix.Close(l.evfd)
			}
			g.cancel()
			return nil, err
		}
		g.loops = append(g.loops, l)
	}
	for _, l := range g.loops {
		f.wg.Add(1)
		go l.run()
	}
	return g, nil
}

// add gives the accepted connection c to a loop; false leaves c to the
// caller. release runs once the connection is closed.
func (g *loopGroup) add(c *net.TCPConn, release func()) bool {
	return g.give(c, release, func(l *evLoop, fd int, remote netip.AddrPort) { l.addClient(fd, remote, release) })
}

// give moves c's socket to a loop, where start serves it on the loop's
// goroutine with a descriptor of its own; false leaves c to the caller.
func (g *loopGroup) give(c *net.TCPConn, release func(), start func(l *evLoop, fd int, remote netip.AddrPort)) bool {
	remote, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return false
	}
	fd, err := dupFD(c)
	if err != nil {
		return false
	}
	c.Close() // the loop has its own descriptor of the socket
	l := g.loops[g.next.Add(1)%uint32(len(g.loops))]
	if !l.post(func() { start(l, fd, remote) }) {
		unix.Close(fd)
		release()
	}
	return true
}

// shutdown makes the loops close idle connections and, once their requests
// are answered, the others; a loop returns once it has none.
func (g *loopGroup) shutdown() {
	g.closing.Store(true)
	for _, l := range g.loops {
		l.post(func() { l.closing = true; l.sweep() })
	}
}

// closeAll closes every connection of the loops, which then return.
func (g *loopGroup) closeAll() {
	g.closing.Store(true)
	g.cancel()
	for _, l := range g.loops {
		l.post(func() { l.closing, l.exit = true, true })
	}
}

// dupFD returns a non-blocking, close-on-exec duplicate of c's descriptor.
func dupFD(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) { fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
