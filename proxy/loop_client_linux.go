//go:build linux

package proxy

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// A client's connection in an event loop: reading its requests, checking
// each against the lean rules and asking Proxy.admit what becomes of it,
// writing the request for the instance, and handing the connection to
// Front's goroutines when the loop does not serve a request.

var clientBufs = sync.Pool{New: func() any { return make([]byte, 0, frontBufSize) }}

func (l *evLoop) addClient(fd int, remote netip.AddrPort, release func()) *evConn {
	if l.closing {
		unix.Close(fd)
		release()
		return nil
	}
	c := &evConn{fd: fd, remote: remote, release: release, in: clientBufs.Get().([]byte)}
	c.remoteStr = remote.String()
	c.deadline = l.now.Add(l.g.headerTimeout)
	if !l.register(c, evRead) {
		unix.Close(fd)
		release()
		return nil
	}
	l.clients++
	return c
}

// gone handles a connection that failed or closed.
func (l *evLoop) gone(c *evConn) {
	if c.up {
		l.instanceGone(c)
		return
	}
	if c.h2 != nil {
		l.h2Gone(c)
	}
	if x := c.x; x != nil {
		if u := c.peer; u != nil {
			c.peer, u.peer = nil, nil
			l.close(u)
		}
		if !x.headDone {
			x.st.fail(statusClientClosed, "client closed the request")
		}
		l.record(c, x)
		c.x = nil
	}
	l.close(c)
}

func (l *evLoop) readClient(c *evConn, ev uint32) {
	if c.h2 != nil {
		h2Buffer(c)
		switch {
		case len(c.in) < cap(c.in) && len(c.out) <= loopHighWater:
			l.readH2(c)
		case ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0:
			l.gone(c)
		default:
			l.wantEvents(c)
		}
		return
	}
	if len(c.in) == cap(c.in) || c.handOver {
		if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			l.gone(c) // the client left while its requests wait
		} else {
			l.wantEvents(c)
		}
		return
	}
	var n int
	var err error
	if c.tls != nil {
		n, err = l.readTLS(c)
	} else if n, err = sysRead(c.fd, c.in[len(c.in):cap(c.in)]); n > 0 {
		c.in = c.in[:len(c.in)+n]
	}
	if n > 0 {
		if c.x == nil {
			l.serveClient(c)
		} else if len(c.in) == cap(c.in) {
			l.wantEvents(c) // pipelined requests wait for the answer
		}
		return
	}
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	l.gone(c)
}

// serveClient starts the next request in c's buffer, or waits for one.
func (l *evLoop) serveClient(c *evConn) {
	if c.closed || c.x != nil {
		return
	}
	if len(c.out) > loopHighWater {
		// The client does not read what it asked for: its next request
		// waits until most of that is written (flush), and it is not read
		// meanwhile (wantEvents), so what the loop holds for it stays
		// bounded however much it pipelines.
		c.owed = true
		l.wantEvents(c)
		return
	}
	if c.tls != nil && len(c.in) < cap(c.in) {
		// What crypto/tls decrypted or holds beyond what c.in took
		// before: no event will say it is there.
		if err := l.pullTLS(c); err != nil {
			l.gone(c)
			return
		}
	}
	if len(c.in) == 0 {
		if l.closing {
			l.close(c)
			return
		}
		c.partial = false
		c.deadline = l.now.Add(l.g.idleTimeout)
		l.wantEvents(c)
		return
	}
	if !c.partial {
		c.partial = true
		c.deadline = l.now.Add(l.g.headerTimeout)
	}
	i := bytes.Index(c.in, crlfcrlf)
	if i < 0 {
		if len(c.in) >= cap(c.in) || bytes.Contains(c.in, lflf) {
			l.handOverClient(c)
			return
		}
		l.wantEvents(c)
		return
	}
	head := c.in[:i+4]
	if bytes.Contains(head, lflf) {
		l.handOverClient(c)
		return
	}
	switch l.start(c, head) {
	case startWait:
		l.wantEvents(c) // for the rest of the body
	case startNo:
		l.handOverClient(c)
	}
}

// What start does with a request.
const (
	startNo   = iota // not for the loop
	startOK          // sent, or being sent
	startWait        // its body is not all here yet
)

// start begins the exchange for the request whose head is head, or says
// it is not one the loop serves, or must wait for the rest of its body.
// A body must fit in the connection's buffer with its head, as on Front's
// goroutines; larger ones are streamed there.
func (l *evLoop) start(c *evConn, head []byte) int {
	s := string(head)
	line, rest, _ := strings.Cut(s, "\r\n")
	var lr leanRequest
	if !lr.requestLine(line) {
		return startNo
	}
	x := &c.xs
	fields := x.fields[:0]
	ok := scanFields(rest, func(key, value string) bool {
		keep, ok := lr.field(key, value)
		if ok && keep {
			fields = append(fields, headerField{key, value})
		}
		return ok
	})
	x.fields = fields
	if !ok || !lr.complete(nil) || len(head)+lr.bodyLen > cap(c.in) {
		return startNo
	}
	if len(c.in) < len(head)+lr.bodyLen {
		return startWait
	}
	body := c.in[len(head) : len(head)+lr.bodyLen]
	b := l.admitLean(x, &lr, fields, len(head)+lr.bodyLen, body, c.remote, c.remoteStr, c.tls != nil)
	if b == nil {
		return startNo // Front's goroutines answer
	}
	c.x = x
	l.sendRequest(c, b)
	return startOK
}

// admitLean makes x the exchange for the lean request lr with its kept
// fields and whole body, from a client at remote, and returns the instance
// Proxy.admit forwards it to; nil when the loop does not serve it (Front's
// goroutines answer it). headLen is what the request takes of the
// client's buffer.
func (l *evLoop) admitLean(x *exchange, lr *leanRequest, fields []headerField, headLen int, body []byte, remote netip.AddrPort, remoteStr string, tls bool) *backend {
	g := l.g
	p := g.p
	// The target the instance gets, as Front's goroutines send it: the
	// URL's RequestURI, with the query cleaned.
	path, query, hasQuery := strings.Cut(lr.target, "?")
	if strings.IndexByte(lr.target, '%') >= 0 || strings.IndexByte(lr.target, '#') >= 0 || !escapedAsIs(path) {
		u, ok := parseTarget(lr.target)
		if !ok {
			return nil
		}
		path = u.Path
		u.RawQuery = cleanQuery(u.RawQuery)
		lr.target = u.RequestURI()
	} else if hasQuery {
		if q := cleanQuery(query); q != query {
			lr.target = path + "?" + q
		}
	}
	if g.direct != nil && !g.direct(lr.host, path) {
		return nil
	}
	ar := arrival{host: lr.host, peer: remote.Addr().Unmap(), remote: remoteStr, tls: tls, bodyLen: int64(len(body))}
	for _, f := range fields {
		ar.readForwarding(f.key, f.value)
	}
	*x = exchange{start: l.now, method: lr.method, host: lr.host, path: path,
		headLen: headLen, closeAfter: lr.closeAfter || l.closing, req: x.req[:0], fields: fields,
		idempotent: replayableMethod(lr.method),
		deadline:   l.now.Add(p.cfg.ResponseHeaderTimeout)}
	st := &x.st
	st.p, st.start = p, l.now
	if p.admit(st, &ar) != forwardIt {
		return nil
	}
	x.route = st.route
	st.bytesIn = int64(len(body))
	st.begin()
	var conn []string
	for _, f := range fields {
		if f.key == "Connection" {
			conn = append(conn, f.value)
		}
	}
	o := outHead{method: lr.method, target: lr.target, host: lr.host, fields: fields, conn: conn, bodyLen: len(body)}
	x.req = appendRequestHead(x.req, &o, &st.fwd)
	x.req = append(x.req, body...)
	g.f.looped.Add(1)
	return st.backend
}

// escapedAsIs reports whether url.URL writes path back unchanged: it holds
// only unreserved characters and those a path keeps.
func escapedAsIs(path string) bool {
	for i := 0; i < len(path); i++ {
		switch c := path[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-_.~$&+,/:;=@", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// handOverClient gives c to Front's goroutines with the bytes it has not
// answered, once what it was sent is written.
func (l *evLoop) handOverClient(c *evConn) {
	if len(c.out) > 0 {
		c.handOver = true
		l.wantEvents(c)
		return
	}
	pending := append([]byte(nil), c.in...)
	release := c.release
	c.release = nil
	t := c.tls
	fd, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0)
	l.close(c)
	if err != nil {
		release()
		return
	}
	f := os.NewFile(uintptr(fd), "client")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		release()
		return
	}
	var conn net.Conn = &releaseConn{Conn: nc, release: release}
	var tc *tls.Conn
	if t != nil {
		tc = t.handBack(conn)
		conn = tc
	}
	if len(pending) > 0 {
		conn = &handedOffConn{Conn: conn, pending: pending}
	}
	l.g.f.loopHandedOff.Add(1)
	l.g.f.startConn(conn, nil, tc)
}
