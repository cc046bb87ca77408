//go:build linux

package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// HTTPS/1.1 connections in the event loops. crypto/tls reads from and
// writes to a net.Conn, and blocks a goroutine while it waits; a loop has
// neither. So the handshake runs on the connection's goroutine as before,
// over a tlsPipe. Once it is done and the client chose HTTP/1.1, the
// connection moves to a loop and its pipe turns into two buffers: the loop
// reads the socket's records into the pipe and asks the tls.Conn for what
// they decrypt to, and what the loop sends the client goes through the
// tls.Conn's Write into the pipe, whose records the loop then sends as it
// sends plain bytes. When the pipe has no record left, a read answers
// errWouldBlock, a temporary net.Error after which crypto/tls keeps the
// connection as it was (a partial record stays in its buffer), so the
// next read, once the socket has more, goes on where it stopped. A
// connection the loop hands to Front's goroutines takes its tls.Conn
// along, the pipe reading from and writing to the socket again.
//
// HTTP/2 connections move to the loops the same way; the loop is then
// their HTTP/2 server (loop_h2_linux.go).

// loopTLS is a client connection's TLS in a loop.
type loopTLS struct {
	conn   *tls.Conn
	pipe   *tlsPipe
	sealed int // the bytes at the start of the evConn's out that are records already
}

// addTLS gives a loop the TLS connection tc, whose handshake is done over
// pipe; false leaves it to the caller, which goes on serving it.
func (g *loopGroup) addTLS(tc *tls.Conn, pipe *tlsPipe) bool {
	return g.addTLSWith(tc, pipe, func(l *evLoop, fd int, remote netip.AddrPort, release func(), t *loopTLS) {
		l.addTLSClient(fd, remote, release, t)
	})
}

// addTLSWith gives a loop the TLS connection tc, which start serves there.
func (g *loopGroup) addTLSWith(tc *tls.Conn, pipe *tlsPipe, start func(l *evLoop, fd int, remote netip.AddrPort, release func(), t *loopTLS)) bool {
	c, release := pipe.Conn, func() {}
	if rc, ok := c.(*releaseConn); ok {
		c, release = rc.Conn, func() { rc.once.Do(rc.release) }
	}
	tcp, ok := c.(*net.TCPConn)
	if !ok || g.closing.Load() {
		return false // a closing front's goroutines answer its first request
	}
	return g.give(tcp, release, func(l *evLoop, fd int, remote netip.AddrPort) {
		pipe.inLoop = true
		start(l, fd, remote, release, &loopTLS{conn: tc, pipe: pipe})
	})
}

func (l *evLoop) addTLSClient(fd int, remote netip.AddrPort, release func(), t *loopTLS) {
	c := l.addClient(fd, remote, release)
	if c == nil {
		return
	}
	c.tls = t
	// Records that came with the handshake's last are in the tls.Conn
	// already: no event will say so.
	if err := l.pullTLS(c); err != nil {
		l.gone(c)
		return
	}
	if len(c.in) > 0 {
		l.serveClient(c)
	}
}

// readTLS reads records from c's socket and puts what they decrypt to in
// c.in; it returns the bytes added, or unix.EAGAIN when there are none
// yet, or why the connection cannot go on.
func (l *evLoop) readTLS(c *evConn) (int, error) {
	t := c.tls
	before := len(c.in)
	var rerr error
	read := false
	if len(t.pipe.in) == 0 { // else the records read before are used first
		n, err := sysRead(c.fd, l.buf)
		switch {
		case n > 0:
			t.pipe.in, read = l.buf[:n], true
		case n == 0 && err == nil:
			rerr = io.EOF
		default:
			rerr = err
		}
	}
	err := l.pullTLS(c)
	if read && len(t.pipe.in) > 0 {
		// l.buf is the loop's; records c.in had no room for yet are kept.
		t.pipe.held = append(t.pipe.held[:0], t.pipe.in...)
		t.pipe.in = t.pipe.held
	}
	if n := len(c.in) - before; n > 0 {
		return n, nil
	}
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	}
	if read && c.x == nil && !c.partial {
		// A record's first bytes are a request's: the head's clock runs
		// from them, as from a plain head's first bytes, so a record that
		// trickles in is cut off as a slow head is.
		c.partial = true
		c.deadline = l.now.Add(l.g.headerTimeout)
	}
	return 0, unix.EAGAIN // a record is not whole yet
}

// pullTLS moves what c's tls.Conn can decrypt from the records it has into
// c.in, as far as c.in has room, and queues what crypto/tls wrote on its
// own meanwhile (an alert, a key update); an error means the connection
// cannot go on.
func (l *evLoop) pullTLS(c *evConn) error {
	t := c.tls
	for len(c.in) < cap(c.in) {
		n, err := t.conn.Read(c.in[len(c.in):cap(c.in)])
		c.in = c.in[:len(c.in)+n]
		if err != nil {
			if errors.Is(err, errWouldBlock) {
				break
			}
			t.sendAlert(c)
			return err
		}
	}
	if len(t.pipe.out) > 0 {
		if err := t.seal(c); err != nil {
			return err
		}
		l.wantEvents(c)
	}
	return nil
}

// sendAlert tries once to send the client the alert crypto/tls wrote as
// the connection failed (a bad record, a refused renegotiation), after the
// records c.out holds; the connection is closed after it either way.
func (t *loopTLS) sendAlert(c *evConn) {
	if len(t.pipe.out) == 0 {
		return
	}
	c.out = append(c.out[:t.sealed], t.pipe.out...)
	t.sealed = len(c.out)
	t.pipe.out = t.pipe.out[:0]
	writeSome(c.fd, c.out)
}

// seal turns the bytes of c.out past the records at its start into
// records, after any crypto/tls wrote on its own.
func (t *loopTLS) seal(c *evConn) error {
	if plain := c.out[t.sealed:]; len(plain) > 0 {
		if _, err := t.conn.Write(plain); err != nil {
			return err
		}
	}
	c.out = append(c.out[:t.sealed], t.pipe.out...)
	t.sealed = len(c.out)
	if cap(t.pipe.out) > loopLowWater {
		t.pipe.out = nil // a large answer's buffer is not kept for the connection's life
	} else {
		t.pipe.out = t.pipe.out[:0]
	}
	return nil
}

// handBack makes t's pipe read from and write to conn, the socket a
// goroutine now serves, and returns the connection that goroutine reads.
func (t *loopTLS) handBack(conn net.Conn) *tls.Conn {
	t.pipe.Conn, t.pipe.inLoop = conn, false // records not yet decrypted stay in the pipe, read first
	return t.conn
}
