//go:build linux

package proxy

import (
	"net"
	"net/http"
	"os"

	"golang.org/x/net/http2"
	"golang.org/x/sys/unix"
)

// HTTP/2 streams the loop does not send to an instance itself (a request
// body, the API host, a redirect, a page of the proxy's own, a request
// whose instance could not be reached) go to Front's goroutines, which
// serve HTTP/1.1 with every rule the proxy has. The loop writes the stream's
// request as HTTP/1.1 into one end of a socket pair and Front serves the
// other end as a connection from the same client over the same TLS
// connection; its answer comes back as any instance's does.

// bridgeConn is the goroutines' end of a stream's socket pair: it says it
// comes from the client at remote and arrived at local.
type bridgeConn struct {
	net.Conn
	remote, local net.Addr
}

func (c *bridgeConn) RemoteAddr() net.Addr { return c.remote }
func (c *bridgeConn) LocalAddr() net.Addr  { return c.local }

// h2Bridge sends s's request to Front's goroutines.
func (l *evLoop) h2Bridge(s *h2Stream) {
	s.fast = false
	h := s.h
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.g.f.logf("proxy: HTTP/2 stream: %v", err)
		l.h2Reset(h, s.id, http2.ErrCodeRefusedStream)
		return
	}
	f := os.NewFile(uintptr(fds[1]), "stream")
	nc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		unix.Close(fds[0])
		l.h2Reset(h, s.id, http2.ErrCodeRefusedStream)
		return
	}
	// The kernel holds little of a request body the goroutines have not
	// read yet: the rest waits in the client's window.
	unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, h2BridgeBuf)
	u := &evConn{fd: fds[0], up: true}
	if !l.register(u, evRead) {
		unix.Close(fds[0])
		nc.Close()
		l.h2Reset(h, s.id, http2.ErrCodeRefusedStream)
		return
	}
	remote := net.TCPAddrFromAddrPort(h.c.remote)
	if !l.g.f.startBridged(&bridgeConn{Conn: nc, remote: remote, local: h.local}, h.state) {
		l.close(u)
		l.h2Reset(h, s.id, http2.ErrCodeRefusedStream)
		return
	}
	x := &s.x
	*x = exchange{method: s.rq.method, req: x.req[:0], fields: x.fields[:0]}
	s.u, u.stream = u, s
	l.send(u, s.rq.appendHead(x.req, s.remoteDone))
}

// appendHead appends the HTTP/1.1 head of the request, whose body follows
// unless ended. The fields were checked as the header block was read: no
// byte in them can break the head's lines.
func (rq *h2Request) appendHead(b []byte, ended bool) []byte {
	b = append(b, rq.method...)
	b = append(b, ' ')
	if rq.method == http.MethodConnect {
		b = append(b, rq.authority...)
	} else {
		b = append(b, rq.path...)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, rq.authority...)
	b = append(b, "\r\n"...)
	for _, f := range rq.fields {
		b = appendField(b, f.key, f.value)
	}
	if !ended && rq.cl < 0 {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(b, "Connection: close\r\n\r\n"...)
}
