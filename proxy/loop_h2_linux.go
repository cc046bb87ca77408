//go:build linux

package proxy

import (
	"bytes"
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"
)

// HTTP/2 connections in the event loops. After its TLS handshake chose h2,
// a connection moves to a loop as an HTTPS/1.1 one does (loop_tls_linux.go)
// and the loop is its HTTP/2 server: x/net/http2's Framer reads and writes
// the frames and its hpack package the header blocks; the loop keeps the
// connection's state (settings, flow-control windows, streams) and the
// abuse budgets of h2_guard.go. A goroutine per stream, per header write
// and per flush, which x/net/http2's server has, was most of what HTTP/2
// cost over HTTPS/1.1.
//
// Each stream is a request the loop sends as HTTP/1.1 and whose HTTP/1.1
// answer it turns into HEADERS and DATA frames (loop_h2_stream_linux.go,
// loop_h2_upstream_linux.go, loop_h2_answer_linux.go), within the
// flow-control windows (loop_h2_flow_linux.go); loop_h2_close_linux.go
// ends streams and connections.
// A request the loops would simply forward (no body, Proxy.admit's
// forwardIt) goes to its instance over the loop's own instance
// connections, as an HTTP/1.1 request in a loop does. Any other (a body,
// the API host, a page of the proxy's own, a redirect) goes to Front's
// goroutines over a socket pair (loop_h2_bridge_linux.go), which serve it
// as an HTTPS/1.1 request from the same client with everything they do.

// HTTP/2 settings and limits of the loops' server.
const (
	h2MaxStreams     = 128       // SETTINGS_MAX_CONCURRENT_STREAMS
	h2StreamWindow   = 256 << 10 // SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a stream may send ahead
	h2ConnWindow     = 1 << 20   // and all streams of a connection
	h2ReadFrameMax   = 16 << 10  // SETTINGS_MAX_FRAME_SIZE's default, which the server keeps
	h2InBuf          = 2*h2ReadFrameMax + h2HeaderLen
	h2StreamHeld     = 16 << 10 // answer bytes a stream holds for its window before its instance is not read
	h2CreditBatch    = 32 << 10 // request body bytes passed on before their window is given back
	h2BridgeBuf      = 64 << 10 // the send buffer of a stream's socket pair to Front's goroutines
	h2DefaultWindow  = 65535
	h2DefaultMaxSend = 16 << 10
)

var errH2Preface = errors.New("not an HTTP/2 client preface")

// h2Bufs holds the buffers HTTP/2 connections read frames into; an idle
// connection has none.
var h2Bufs = sync.Pool{New: func() any { return make([]byte, 0, h2InBuf) }}

// h2Buffer gives c a buffer to read into, if it has none.
func h2Buffer(c *evConn) {
	if cap(c.in) == 0 {
		c.in = h2Bufs.Get().([]byte)
	}
}

// h2Unbuffer takes an empty buffer back from c.
func h2Unbuffer(c *evConn) {
	if len(c.in) == 0 && cap(c.in) == h2InBuf {
		//lint:ignore SA6002 a slice header per idle period, not per request
		h2Bufs.Put(c.in[:0])
		c.in = nil
	}
}

// h2Conn is an HTTP/2 connection's state in a loop.
type h2Conn struct {
	c                             *evConn
	local                         net.Addr             // the listener's address, for requests Front's goroutines serve
	state                         *tls.ConnectionState // the connection's TLS, for them too
	fr                            *http2.Framer        // reads src, writes to c.out
	src                           frameSource          // the frame ReadFrame reads
	enc                           *hpack.Encoder       // answer header blocks, into encBuf
	encBuf                        bytes.Buffer         //
	dec                           *hpack.Decoder       // request header blocks
	fields                        []hpack.HeaderField  // the block being decoded
	listLen                       int                  // its size as SETTINGS_MAX_HEADER_LIST_SIZE counts it
	streams                       map[uint32]*h2Stream //
	blocked                       []*h2Stream          // streams with answer bytes waiting for a window
	preface                       bool                 // the client's preface is read
	lastID                        uint32               // the highest stream the client opened
	goAway                        bool                 // GOAWAY sent: no new stream
	stalled                       bool                 // frames wait in c.in for the client to read its answers
	peerEnd                       bool                 // the client sent GOAWAY
	maxSend                       uint32               // the client's SETTINGS_MAX_FRAME_SIZE
	initWin                       int32                // its SETTINGS_INITIAL_WINDOW_SIZE
	sendWin                       int64                // the connection's window for answer bytes
	recvWin                       int64                // and for request bytes
	credit                        int64                // request bytes passed on whose window is not given back yet
	block                         []byte               // the header block being read
	blockID                       uint32               // its stream
	blockES                       bool                 // its HEADERS ended the stream
	blockAt                       time.Time            // when it began, for the header timeout
	idleSince                     time.Time            // when its last stream ended, or it began
	abusive                       bool                 // it made the server reset too many streams
	serving                       bool                 // serveH2 is reading its frames: c is neither flushed nor closed meanwhile
	resets, settings, pings, idle budget
}

// frameSource is the reader the Framer reads one whole frame from.
type frameSource struct{ b []byte }

func (s *frameSource) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// h2Out is the Framer's writer: c.out, sealed by flush.
type h2Out struct{ c *evConn }

func (o h2Out) Write(b []byte) (int, error) {
	o.c.out = append(o.c.out, b...)
	return len(b), nil
}

// addH2 gives a loop the TLS connection tc that chose h2; false leaves it
// to the caller.
func (g *loopGroup) addH2(tc *tls.Conn, pipe *tlsPipe) bool {
	local := tc.LocalAddr()
	cs := tc.ConnectionState()
	return g.addTLSWith(tc, pipe, func(l *evLoop, fd int, remote netip.AddrPort, release func(), t *loopTLS) {
		l.addH2Client(fd, remote, release, t, local, &cs)
	})
}

func (l *evLoop) addH2Client(fd int, remote netip.AddrPort, release func(), t *loopTLS, local net.Addr, cs *tls.ConnectionState) {
	c := l.addClient(fd, remote, release)
	if c == nil {
		return
	}
	//lint:ignore SA6002 a slice header per connection
	clientBufs.Put(c.in[:0]) // a whole frame needs a larger buffer, h2InBuf
	c.in = nil
	c.tls = t
	c.partial = true // the deadline is h2Deadline's
	h := &h2Conn{c: c, local: local, state: cs, streams: map[uint32]*h2Stream{},
		maxSend: h2DefaultMaxSend, initWin: h2DefaultWindow, sendWin: h2DefaultWindow, recvWin: h2ConnWindow,
		resets: budget{spec: h2ResetBudget}, settings: budget{spec: h2SettingsBudget},
		pings: budget{spec: h2PingBudget}, idle: budget{spec: h2IdleFrameBudget}, blockAt: l.now, idleSince: l.now}
	h.fr = http2.NewFramer(h2Out{c}, &h.src)
	h.fr.SetMaxReadFrameSize(h2ReadFrameMax)
	h.fr.SetReuseFrames()
	h.enc = hpack.NewEncoder(&h.encBuf)
	h.dec = hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		h.listLen += len(f.Name) + len(f.Value) + 32
		if h.listLen <= ServerMaxHeaderBytes {
			h.fields = append(h.fields, f)
		}
	})
	h.dec.SetMaxStringLength(ServerMaxHeaderBytes)
	c.h2 = h
	h.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: ServerMaxHeaderBytes},
	)
	h.fr.WriteWindowUpdate(0, h2ConnWindow-h2DefaultWindow)
	h2Buffer(c)
	if err := l.pullTLS(c); err != nil {
		l.gone(c)
		return
	}
	l.serveH2(c)
}

// readH2 reads what the client sent and serves its frames.
func (l *evLoop) readH2(c *evConn) {
	n, err := l.readTLS(c)
	if n > 0 {
		l.serveH2(c)
		return
	}
	if err == unix.EAGAIN || err == unix.EINTR {
		return
	}
	l.gone(c)
}

// serveH2 serves the whole frames in c.in, then sends what they caused.
func (l *evLoop) serveH2(c *evConn) {
	h := c.h2
	h.serving = true
	defer func() { h.serving = false }()
	for !c.closed && !c.closeOut {
		used, err := h.frames(l)
		if c.closed {
			return
		}
		if used > 0 {
			c.in = c.in[:copy(c.in, c.in[used:])]
		}
		if err != nil {
			l.h2Fail(c, err)
			return
		}
		if c.closed {
			return
		}
		if len(c.out) > loopHighWater {
			h.stalled = true // the client reads first
			break
		}
		if len(c.in) < cap(c.in) {
			before := len(c.in)
			if err := l.pullTLS(c); err != nil {
				l.gone(c)
				return
			}
			if len(c.in) == before {
				break
			}
		} else if used == 0 {
			break // cannot happen: a full buffer holds a whole frame
		}
	}
	if c.closed {
		return
	}
	h2Unbuffer(c)
	l.h2Deadline(c)
	if l.flush(c) {
		l.wantEvents(c)
	}
}

// frames handles the whole frames at the start of c.in and returns the
// bytes they took; an error ends the connection.
func (h *h2Conn) frames(l *evLoop) (int, error) {
	c := h.c
	used := 0
	if !h.preface {
		if len(c.in) < len(http2.ClientPreface) {
			if !bytes.HasPrefix([]byte(http2.ClientPreface), c.in) {
				return 0, errH2Preface
			}
			return 0, nil
		}
		if string(c.in[:len(http2.ClientPreface)]) != http2.ClientPreface {
			return 0, errH2Preface
		}
		h.preface = true
		used = len(http2.ClientPreface)
	}
	for !c.closed && !c.closeOut && len(c.out) <= loopHighWater {
		b := c.in[used:]
		if len(b) < h2HeaderLen {
			break
		}
		n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		if n > h2ReadFrameMax {
			return used, http2.ConnectionError(http2.ErrCodeFrameSize)
		}
		if len(b) < h2HeaderLen+n {
			break
		}
		h.src.b = b[:h2HeaderLen+n]
		f, err := h.fr.ReadFrame()
		used += h2HeaderLen + n
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) && b[3] != h2FrameHeaders && b[3] != h2FrameContinuation {
				l.h2Refuse(h, se.StreamID, se.Code)
				continue
			}
			if se.Code != 0 {
				// A header block that cannot be read leaves HPACK's state
				// unknown: the connection cannot go on (RFC 9113, 6.2).
				return used, http2.ConnectionError(http2.ErrCodeProtocol)
			}
			return used, err
		}
		if err := l.h2Frame(h, f); err != nil {
			return used, err
		}
		if h.abusive {
			return used, errH2Resets
		}
	}
	return used, nil
}

// h2Frame handles one frame.
func (l *evLoop) h2Frame(h *h2Conn, f http2.Frame) error {
	id := f.Header().StreamID
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		if !h.settings.take(l.now) {
			return errH2Settings
		}
		return l.h2Settings(h, f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if !h.pings.take(l.now) {
			return errH2Pings
		}
		return h.fr.WritePing(true, f.Data)
	case *http2.WindowUpdateFrame:
		if !h.idle.take(l.now) {
			return errH2IdleFrames
		}
		return l.h2WindowUpdate(h, id, int64(f.Increment))
	case *http2.PriorityFrame:
		if !h.idle.take(l.now) {
			return errH2IdleFrames
		}
		return nil
	case *http2.RSTStreamFrame:
		if id > h.lastID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream
		}
		if !h.resets.take(l.now) {
			return errH2Resets
		}
		if s := h.streams[id]; s != nil {
			l.h2Cancel(s, "client reset the stream")
		}
		return nil
	case *http2.GoAwayFrame:
		h.peerEnd = true
		return nil
	case *http2.HeadersFrame:
		return l.h2HeadersFrame(h, f)
	case *http2.ContinuationFrame:
		if h.blockID == 0 || id != h.blockID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if len(h.block)+len(f.HeaderBlockFragment()) > h2MaxHeaderBlock {
			return errH2HeaderBlock
		}
		h.block = append(h.block, f.HeaderBlockFragment()...)
		if f.HeadersEnded() {
			return l.h2Block(h)
		}
		return nil
	case *http2.DataFrame:
		return l.h2Data(h, f)
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // a client does not push
	}
	return nil // an unknown frame type, ignored
}

func (l *evLoop) h2Settings(h *h2Conn, f *http2.SettingsFrame) error {
	if err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			h.enc.SetMaxDynamicTableSizeLimit(s.Val)
		case http2.SettingMaxFrameSize:
			h.maxSend = s.Val
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - int64(h.initWin)
			h.initWin = int32(s.Val)
			for _, st := range h.streams {
				st.sendWin += delta
				if st.sendWin > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl)
				}
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := h.fr.WriteSettingsAck(); err != nil {
		return err
	}
	l.h2Pump(h)
	return nil
}

// h2HeadersFrame begins a header block: a new stream's, or the trailers
// of a request body.
func (l *evLoop) h2HeadersFrame(h *h2Conn, f *http2.HeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if id > h.lastID {
		h.lastID = id
	} else if h.streams[id] == nil {
		// A stream that went down, or that the server ended: as
		// x/net/http2 does, the connection ends.
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if len(f.HeaderBlockFragment()) > h2MaxHeaderBlock {
		return errH2HeaderBlock
	}
	h.block = append(h.block[:0], f.HeaderBlockFragment()...)
	h.blockID, h.blockES, h.blockAt = id, f.StreamEnded(), l.now
	if f.HeadersEnded() {
		return l.h2Block(h)
	}
	return nil
}

// h2Block decodes a whole header block and starts its stream, or takes
// its trailers.
func (l *evLoop) h2Block(h *h2Conn) error {
	h.fields, h.listLen = h.fields[:0], 0
	if _, err := h.dec.Write(h.block); err != nil {
		return http2.ConnectionError(http2.ErrCodeCompression)
	}
	if err := h.dec.Close(); err != nil {
		return http2.ConnectionError(http2.ErrCodeCompression)
	}
	id := h.blockID
	h.blockID = 0
	if cap(h.block) > 64<<10 {
		h.block = nil
	}
	if s := h.streams[id]; s != nil {
		switch {
		case s.remoteDone:
			l.h2Refuse(h, id, http2.ErrCodeStreamClosed)
		case !h.blockES:
			l.h2Refuse(h, id, http2.ErrCodeProtocol) // trailers end the stream
		default:
			l.h2Trailers(s, h.fields)
		}
		return nil
	}
	switch {
	case h.goAway || h.peerEnd:
		l.h2Refuse(h, id, http2.ErrCodeRefusedStream)
	case len(h.streams) >= h2MaxStreams:
		l.h2Refuse(h, id, http2.ErrCodeRefusedStream)
	default:
		l.h2Open(h, id, h.blockES)
	}
	return nil
}

// h2Data passes a request body's bytes on, within the windows.
func (l *evLoop) h2Data(h *h2Conn, f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length)
	if h.recvWin -= n; h.recvWin < 0 {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	if len(f.Data()) == 0 && !f.StreamEnded() && !h.idle.take(l.now) {
		return errH2IdleFrames
	}
	s := h.streams[id]
	if s == nil || s.remoteDone {
		if id > h.lastID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		l.h2Credit(h, nil, n) // a stream already closed: the connection's window comes back
		if s != nil {
			l.h2Refuse(h, id, http2.ErrCodeStreamClosed)
		}
		return nil
	}
	if s.recvWin -= n; s.recvWin < 0 {
		l.h2Refuse(h, id, http2.ErrCodeFlowControl)
		return nil
	}
	l.h2Body(s, f.Data(), n, f.StreamEnded())
	return nil
}
