package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
)

// Handing a connection to net/http: Front gives a connection whose request
// the lean path does not serve, with the bytes it already read, to a
// net/http server that serves it from then on.

// handOff gives c to the net/http server, with the bytes of br it has not
// consumed read first; tc or state, unless nil, is the TLS under c.
func (f *Front) handOff(c net.Conn, br *bufio.Reader, tc *tls.Conn, state *tls.ConnectionState) {
	f.handedOff.Add(1)
	if br == nil || br.Buffered() == 0 {
		if tc, ok := c.(*tls.Conn); ok {
			c = tc // as it is, so that net/http sees its TLS state and protocol
		} else {
			c = &handedOffConn{Conn: c, tls: tc, state: state}
		}
	} else {
		b, _ := br.Peek(br.Buffered())
		c = &handedOffConn{Conn: c, tls: tc, state: state, pending: append([]byte(nil), b...)}
	}
	if !f.handoff.push(c) {
		c.Close()
	}
}

// serveStd serves the connections handed to net/http; on TLS connections
// that the front wrapped, it puts back the TLS state net/http cannot see.
func (f *Front) serveStd(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil {
		if hc, ok := r.Context().Value(handedOffKey{}).(*handedOffConn); ok {
			if hc.tls != nil {
				hc.stateOnce.Do(func() { cs := hc.tls.ConnectionState(); hc.state = &cs })
			}
			r.TLS = hc.state // an HTTP/2 stream's from a loop is set from the start
		}
	}
	f.Handler.ServeHTTP(w, r)
}

type handedOffKey struct{}

func handedOffContext(ctx context.Context, c net.Conn) context.Context {
	if hc, ok := c.(*handedOffConn); ok {
		return context.WithValue(ctx, handedOffKey{}, hc)
	}
	return ctx
}

// handedOffConn is a connection given to net/http: the bytes the front had
// read come first. A TLS connection is handed over as a *tls.Conn when
// nothing was read from it (HTTP/2), so net/http sees its state itself.
type handedOffConn struct {
	net.Conn
	pending   []byte
	tls       *tls.Conn
	stateOnce sync.Once
	state     *tls.ConnectionState
}

func (c *handedOffConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handoffListener is the net/http server's listener: it accepts the
// connections the front hands over.
type handoffListener struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoffListener() *handoffListener {
	return &handoffListener{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *handoffListener) push(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
