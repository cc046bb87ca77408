//go:build linux

package proxy

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"

	"golang.org/x/sys/unix"
)

// An event loop's connections to instances: the idle ones it keeps per
// instance, dialing without waiting, sending a request, reading what comes
// back, and what an instance that closes or fails means for its client.

// sendRequest sends c's request on an idle connection to b, or dials one.
func (l *evLoop) sendRequest(c *evConn, b *backend) {
	if u := l.idleConn(b); u != nil {
		l.attach(c, u)
		return
	}
	c.x.dialing = true
	x := c.x
	l.dial(b, func(u *evConn, err error) { l.dialed(c, x, b, u, err) })
}

// dial connects to b off the loop, then runs then on the loop with the
// connection, registered, or nil and why.
func (l *evLoop) dial(b *backend, then func(u *evConn, err error)) {
	addr := b.up.Addr
	ctx := l.g.ctx
	go func() { // ends within dialTimeout, or when the front closes
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		nc, err := (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext(ctx, "tcp", addr)
		cancel()
		fd := -1
		if err == nil {
			fd, err = dupFD(nc.(*net.TCPConn))
			nc.Close()
		}
		if !l.post(func() {
			var u *evConn
			if fd >= 0 {
				u = &evConn{fd: fd, up: true, be: b}
				if !l.register(u, evRead) {
					unix.Close(fd)
					u, err = nil, errors.New("registering the connection failed")
				}
			}
			then(u, err)
		}) && fd >= 0 {
			unix.Close(fd)
		}
	}()
}

// idleConn takes an idle connection to b from the pool, or nil.
func (l *evLoop) idleConn(b *backend) *evConn {
	pool := l.pools[b]
	for len(pool) > 0 {
		u := pool[len(pool)-1]
		pool[len(pool)-1] = nil
		pool = pool[:len(pool)-1]
		l.pools[b] = pool
		if !u.closed {
			u.reused = true
			return u
		}
	}
	return nil
}

// dialed receives a new connection to b for c's exchange x.
func (l *evLoop) dialed(c *evConn, x *exchange, b *backend, u *evConn, err error) {
	if c.closed || c.x != x || !x.dialing {
		if u != nil {
			l.putIdle(u) // the client left; another may use it
		}
		return
	}
	x.dialing = false
	if u == nil {
		l.cannotConnect(c, x, b, err)
		return
	}
	l.attach(c, u)
}

// cannotConnect follows Proxy.roundTrip's rule when no connection to b
// could be made: b leaves the rotation, and a request that may be sent
// again goes to the next healthy instance until each was tried; otherwise
// the client gets 502. Anything else that kept the loop from connecting
// hands the request to Front's goroutines.
func (l *evLoop) cannotConnect(c *evConn, x *exchange, b *backend, err error) {
	if !isDialError(err) || l.g.ctx.Err() != nil { // not the instance's doing, or the front is closing
		x.st.end()
		c.x = nil
		l.handOverClient(c)
		return
	}
	next := l.nextBackend(x, b, err)
	if next == nil {
		l.answerFailure(c, b, http.StatusBadGateway, err.Error())
		return
	}
	l.sendRequest(c, next)
}

// nextBackend takes b, to which no connection could be made for x, out of
// the rotation and returns the next healthy instance to send x to, or nil
// when x may not be sent again or each was tried.
func (l *evLoop) nextBackend(x *exchange, b *backend, err error) *backend {
	l.g.p.eject(b, err)
	x.tries++
	var next *backend
	if x.tries < len(x.route.backends) && x.idempotent {
		next = x.route.pick(x.st.toSplit)
	}
	b.connectFailed(next != nil)
	if next == nil {
		x.st.connectFailed = true
	} else {
		x.st.backend = next
	}
	return next
}

func (l *evLoop) attach(c *evConn, u *evConn) {
	c.peer, u.peer = u, c
	u.in, u.got, u.paused = u.in[:0], false, false
	x := c.x
	l.send(u, x.req)
	if !u.closed {
		x.reqSent = len(u.out) == 0
		l.wantEvents(u)
	}
}

// putIdle keeps u for the next request to its instance.
func (l *evLoop) putIdle(u *evConn) {
	if u.closed {
		return
	}
	if l.closing || len(u.in) > 0 || len(l.pools[u.be]) >= maxIdleConnsPerHost || u.be.pool.isClosed() {
		l.close(u)
		return
	}
	u.peer, u.stream, u.paused, u.idleSince = nil, nil, false, l.now
	u.out = u.out[:0]
	if cap(u.in) > 16<<10 {
		u.in = nil // a large answer head's buffer
	}
	l.pools[u.be] = append(l.pools[u.be], u)
	l.wantEvents(u)
}

func (l *evLoop) readInstance(u *evConn) {
	if u.stream != nil {
		l.h2ReadUp(u)
		return
	}
	c := u.peer
	if c == nil {
		l.close(u) // an idle connection the instance closed, or that sent what was not asked for
		return
	}
	x := c.x
	if !x.headDone && len(u.in) == cap(u.in) {
		if cap(u.in) >= loopAnswerHeadMax {
			l.failAnswer(c, u, http.StatusBadGateway, "the answer's headers are too large")
			return
		}
		u.in = append(u.in, make([]byte, max(4<<10, cap(u.in)))...)[:len(u.in)]
	}
	var n int
	var err error
	if x.headDone {
		n, err = sysRead(u.fd, l.buf) // the body goes straight on
	} else {
		n, err = sysRead(u.fd, u.in[len(u.in):cap(u.in)])
	}
	if n <= 0 {
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		l.instanceGone(u)
		return
	}
	u.got = true
	if x.headDone {
		l.relay(c, u, l.buf[:n])
		return
	}
	u.in = u.in[:len(u.in)+n]
	l.answer(c, u)
}

// instanceGone handles an instance connection that closed or failed.
func (l *evLoop) instanceGone(u *evConn) {
	if u.stream != nil {
		l.h2UpGone(u)
		return
	}
	c := u.peer
	if c == nil {
		l.close(u)
		return
	}
	x := c.x
	switch {
	case x.headDone && x.mode == bodyToClose:
		x.keepUp = false
		if x.sniff {
			x.releaseHead(c, x.held[:min(len(x.held), sniffLen)])
			if !l.flush(c) {
				return
			}
		}
		l.endExchange(c, u)
	case x.headDone && x.sniff:
		l.failAnswer(c, u, http.StatusBadGateway, "the connection closed in the middle of the answer")
	case x.headDone:
		// Cut short: the client sees the answer end early, as on Front's
		// goroutines.
		x.st.errText = u.be.up.Name + ": the connection closed in the middle of the answer"
		c.peer, u.peer = nil, nil
		l.close(u)
		l.record(c, x)
		c.x = nil
		c.closeOut = true
		l.flush(c)
	case !u.got && !resendable(x.idempotent, x.reqSent):
		// The instance may have acted on it: not sent again, as on
		// Front's goroutines.
		l.failAnswer(c, u, http.StatusBadGateway, "the connection closed before an answer")
	case !u.got:
		// Nothing came back: the instance closed a pooled connection as
		// the request went out, or died. Front's goroutines send it again
		// (it may be, or it did not all go out), and take over the
		// connection.
		c.peer, u.peer = nil, nil
		l.close(u)
		u.be.resent()
		x.st.end()
		c.x = nil
		l.handOverClient(c)
	default:
		l.failAnswer(c, u, http.StatusBadGateway, "the connection closed in the middle of the answer's headers")
	}
}
