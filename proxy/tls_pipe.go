package proxy

import (
	"net"
	"time"
)

// A TLS connection's pipe, which lets the connection move to an event
// loop after its handshake: see loop_tls_linux.go.

// tlsPipe is what a tls.Conn that may move to a loop reads from and writes
// to: the socket while a goroutine serves the connection, the loop's
// buffers while a loop does.
type tlsPipe struct {
	net.Conn        // the socket, while a goroutine serves the connection
	inLoop   bool   // a loop serves it
	in       []byte // records read from the socket, not yet taken by crypto/tls
	out      []byte // records crypto/tls wrote, not yet taken by the loop
	held     []byte // in's storage when records outlast the loop's read buffer
}

// errWouldBlock is the pipe's answer when a loop has no record for it.
var errWouldBlock net.Error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "proxy: no TLS record waiting" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true }

func (p *tlsPipe) Read(b []byte) (int, error) {
	if len(p.in) > 0 {
		n := copy(b, p.in)
		p.in = p.in[n:]
		return n, nil
	}
	if p.inLoop {
		return 0, errWouldBlock
	}
	return p.Conn.Read(b)
}

func (p *tlsPipe) Write(b []byte) (int, error) {
	if p.inLoop {
		p.out = append(p.out, b...)
		return len(b), nil
	}
	return p.Conn.Write(b)
}

func (p *tlsPipe) SetDeadline(t time.Time) error {
	if p.inLoop {
		return nil // the loop's sweep keeps the time
	}
	return p.Conn.SetDeadline(t)
}

func (p *tlsPipe) SetReadDeadline(t time.Time) error {
	if p.inLoop {
		return nil
	}
	return p.Conn.SetReadDeadline(t)
}

func (p *tlsPipe) SetWriteDeadline(t time.Time) error {
	if p.inLoop {
		return nil
	}
	return p.Conn.SetWriteDeadline(t)
}
