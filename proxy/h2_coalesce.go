package proxy

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// Coalescing an HTTP/2 answer's frames: x/net/http2's server writes the
// HEADERS frame of an answer and flushes it before the handler may go on
// (it does not own the header map), then writes and flushes the DATA that
// follows: two TLS records and two write system calls for every small
// answer, a quarter of the CPU of serving it. h2Coalescer sits under the
// server and holds back a write that ends in a header block which does not
// end its stream, for at most h2HoldHeaders or until the server's next
// write, and sends both as one. A stream whose body comes later (an event
// stream, a slow app) gets its headers h2HoldHeaders late at most.

// h2HoldHeaders bounds how long an answer's headers wait for its body.
// The body of a ready answer follows within microseconds; a streamed one
// only loses this long.
const h2HoldHeaders = time.Millisecond

// h2HoldMax bounds the bytes held back: one TLS record's worth.
const h2HoldMax = 16 << 10

// HTTP/2 frame flags the coalescer reads (RFC 9113 section 6.2).
const h2FlagEndStream = 0x1

// h2TLSConn is what the HTTP/2 server is given: a connection that can tell
// its TLS state (x/net/http2 checks the version and cipher suite).
type h2TLSConn interface {
	net.Conn
	ConnectionState() tls.ConnectionState
}

// h2Coalescer is the connection the HTTP/2 server writes to.
type h2Coalescer struct {
	h2TLSConn
	out h2OutScanner // only in Write, which the server calls from one goroutine at a time

	mu    sync.Mutex
	held  []byte
	timer *time.Timer // sends held when h2HoldHeaders have passed
	err   error       // of a write the timer made
}

func newH2Coalescer(c h2TLSConn) *h2Coalescer {
	return &h2Coalescer{h2TLSConn: c}
}

// Write writes p, or holds it back when it ends in an answer's header
// block that its body should follow.
func (c *h2Coalescer) Write(p []byte) (int, error) {
	hold := c.out.scan(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if hold && len(c.held)+len(p) <= h2HoldMax {
		if len(c.held) == 0 {
			c.arm()
		}
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if len(c.held) == 0 {
		return c.h2TLSConn.Write(p)
	}
	c.timer.Stop()
	c.held = append(c.held, p...)
	_, err := c.h2TLSConn.Write(c.held)
	c.held = c.held[:0]
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

// arm starts the hold's deadline; c.mu is held.
func (c *h2Coalescer) arm() {
	if c.timer == nil {
		c.timer = time.AfterFunc(h2HoldHeaders, c.sendHeld)
		return
	}
	c.timer.Reset(h2HoldHeaders)
}

// sendHeld sends what was held back once its deadline has passed. A write
// that fails closes the connection, so the server's reader sees it end.
func (c *h2Coalescer) sendHeld() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) == 0 || c.err != nil {
		return
	}
	_, err := c.h2TLSConn.Write(c.held)
	c.held = c.held[:0]
	if err != nil {
		c.err = err
		c.h2TLSConn.Close()
	}
}

// Close stops the deadline and closes the connection; held bytes are
// dropped (the server closes a connection only once its streams are done).
func (c *h2Coalescer) Close() error {
	c.mu.Lock()
	if c.timer != nil {
		c.timer.Stop()
	}
	c.held = nil
	if c.err == nil {
		c.err = net.ErrClosed
	}
	c.mu.Unlock()
	return c.h2TLSConn.Close()
}

// h2OutScanner follows the frames the server writes, whatever the
// boundaries of its writes.
type h2OutScanner struct {
	hdr       [h2HeaderLen]byte
	hn        int    // bytes of hdr seen
	left      uint32 // payload bytes of the current frame still to come
	typ       byte   // of the current frame
	flags     byte
	endStream bool // the current header block ends its stream
	open      bool // the last complete frame ended a header block its body should follow
}

// scan reads the next bytes the server writes and reports whether they
// end with a complete header block whose stream goes on.
func (s *h2OutScanner) scan(b []byte) bool {
	for len(b) > 0 {
		if s.left > 0 {
			n := min(int(s.left), len(b))
			s.left -= uint32(n)
			b = b[n:]
			if s.left == 0 {
				s.done()
			}
			continue
		}
		n := copy(s.hdr[s.hn:], b)
		s.hn += n
		b = b[n:]
		if s.hn < h2HeaderLen {
			break
		}
		s.hn = 0
		s.left = uint32(s.hdr[0])<<16 | uint32(s.hdr[1])<<8 | uint32(s.hdr[2])
		s.typ, s.flags = s.hdr[3], s.hdr[4]
		s.open = false
		if s.typ == h2FrameHeaders {
			s.endStream = s.flags&h2FlagEndStream != 0
		}
		if s.left == 0 {
			s.done()
		}
	}
	return s.hn == 0 && s.left == 0 && s.open
}

// done takes in the end of the current frame.
func (s *h2OutScanner) done() {
	s.open = (s.typ == h2FrameHeaders || s.typ == h2FrameContinuation) &&
		s.flags&h2FlagEndHeaders != 0 && !s.endStream
}
