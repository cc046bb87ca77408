package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Coalescing an HTTP/2 answer's frames: x/net/http2's server writes the
// HEADERS frame of an answer and flushes it before the handler may go on
// (it does not own the header map), then writes and flushes the DATA that
// follows: two TLS records and two write system calls for every small
// answer, a quarter of the CPU of serving it. h2Coalescer sits under the
// server: when a handler says its answer's body is ready to follow its
// headers (h2BodyFollows), the write that ends in that header block is held
// back until the server's next write, the body's, and both go out as one.
// Other answers' headers (an event stream's, before its first event) go out
// at once, as before.
//
// A time-bound hold without the handler's word did not pay: under load the
// handler's goroutine often ran more than a millisecond after its headers
// were written, the hold's timer fired first, and the agent spent as much
// CPU per answer as without it.

// h2HoldHeaders bounds how long held headers wait for their body, should
// it not come (its client went away): the hold costs a ready answer no
// time, since its client could not use the headers without the body.
const h2HoldHeaders = 10 * time.Millisecond

// h2HandlerBuffer is the size of the buffer x/net/http2 gives a handler's
// answer: a longer body, written without a flush, sends the headers as it
// fills the buffer.
const h2HandlerBuffer = 4 << 10

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
	out    h2OutScanner // only in Write, which the server calls from one goroutine at a time
	bodies atomic.Int32 // answers whose body follows their headers at once (h2BodyFollows)

	mu    sync.Mutex
	held  *[]byte     // the bytes held back, nil when none are
	timer *time.Timer // sends held when h2HoldHeaders have passed
	err   error       // of a write the timer made
}

func newH2Coalescer(c h2TLSConn) *h2Coalescer {
	return &h2Coalescer{h2TLSConn: c}
}

type h2CoalescerKey struct{}

// context returns ctx for the connection's requests, so that their
// handlers can reach c.
func (c *h2Coalescer) context(ctx context.Context) context.Context {
	return context.WithValue(ctx, h2CoalescerKey{}, c)
}

// h2BodyFollows tells the HTTP/2 connection of a request (ctx is its
// context) that its answer's headers, not written yet, are followed by its
// body as soon as the server takes it: the whole answer is written when
// the handler returns. Nothing happens for other requests. Should that
// answer never be written (its client reset the stream), the word goes to
// the connection's next answer whose body does not follow: its headers are
// then h2HoldHeaders late, once.
func h2BodyFollows(ctx context.Context) {
	if c, ok := ctx.Value(h2CoalescerKey{}).(*h2Coalescer); ok {
		c.bodies.Add(1)
	}
}

// takeBody takes one answer that h2BodyFollows announced.
func (c *h2Coalescer) takeBody() bool {
	for {
		n := c.bodies.Load()
		if n <= 0 {
			return false
		}
		if c.bodies.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

// Write writes p, or holds it back when it ends in the header block of an
// answer whose body follows.
func (c *h2Coalescer) Write(p []byte) (int, error) {
	hold := c.out.scan(p) && c.takeBody()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if c.held == nil {
		if !hold || len(p) > h2HoldMax {
			return c.h2TLSConn.Write(p)
		}
		c.held = h2HeldBuffers.Get().(*[]byte)
		*c.held = append((*c.held)[:0], p...)
		c.arm()
		return len(p), nil
	}
	c.timer.Stop()
	if len(*c.held)+len(p) > h2HoldMax {
		if err := c.sendHeldLocked(); err != nil {
			return 0, err
		}
		return c.h2TLSConn.Write(p)
	}
	*c.held = append(*c.held, p...)
	if err := c.sendHeldLocked(); err != nil {
		return 0, err
	}
	return len(p), nil
}

// h2HeldBuffers holds the bytes held back, only while they are: an idle
// connection keeps no buffer.
var h2HeldBuffers = sync.Pool{New: func() any {
	b := make([]byte, 0, h2HandlerBuffer+1<<10)
	return &b
}}

// sendHeldLocked writes the held bytes and gives their buffer back; c.mu
// is held.
func (c *h2Coalescer) sendHeldLocked() error {
	_, err := c.h2TLSConn.Write(*c.held)
	c.dropHeldLocked()
	return err
}

func (c *h2Coalescer) dropHeldLocked() {
	if cap(*c.held) <= h2HoldMax {
		h2HeldBuffers.Put(c.held)
	}
	c.held = nil
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
	if c.held == nil || c.err != nil {
		return
	}
	if err := c.sendHeldLocked(); err != nil {
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
	if c.held != nil {
		c.dropHeldLocked()
	}
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
