package proxy

import (
	"crypto/tls"
	"errors"
	"sync"
	"time"
)

// The HTTP/2 guard reads the frames a client sends as they pass to the
// HTTP/2 server, and closes the connection of a client that abuses what
// x/net/http2 does not cut off by itself: a loop of HEADERS and RST_STREAM
// (rapid reset, CVE-2023-44487: Go only bounds the handlers running, so
// requests answered at once go on forever), SETTINGS or PING frames without
// end, and a header block that trickles in (a slowloris client over
// HTTP/2: net/http's header timeout covers HTTP/1 only). It costs a few
// comparisons per frame; without it one client could keep a core busy.

// Per-connection budgets of the frames a client sends that cost the server
// work without making a request: a bucket of burst frames, refilled at
// perSecond. Browsers cancel tens of streams at once on a navigation and
// send one SETTINGS and few PINGs; the attacks send thousands a second.
var (
	h2ResetBudget    = budgetSpec{burst: 200, perSecond: 100}
	h2SettingsBudget = budgetSpec{burst: 20, perSecond: 5}
	h2PingBudget     = budgetSpec{burst: 50, perSecond: 10}
	// Frames that ask nothing of the server but to read them: WINDOW_UPDATE,
	// PRIORITY, and DATA with no byte that does not end its stream (the
	// "empty frames" and "resource loop" floods). A browser sends a
	// WINDOW_UPDATE per half window it reads (megabytes), so this is far
	// above any download's.
	h2IdleFrameBudget = budgetSpec{burst: 5000, perSecond: 2500}
)

// h2MaxHeaderBlock caps the bytes of one header block (HEADERS and its
// CONTINUATIONs, compressed). x/net/http2 answers 431 once the decoded
// headers pass ServerMaxHeaderBytes, but reads and decodes what follows;
// the compressed block of any header list it accepts is smaller, so past
// four times that the client is flooding (CVE-2024-27316's class).
const h2MaxHeaderBlock = 4 * ServerMaxHeaderBytes

// h2HeaderTimeout is how long a request's header block may take to arrive,
// from its HEADERS frame to the frame that ends it, as ServerReadHeaderTimeout
// is for HTTP/1.
var h2HeaderTimeout = ServerReadHeaderTimeout

// Errors of an abusive HTTP/2 client.
var (
	errH2Resets       = errors.New("too many RST_STREAM frames (rapid reset)")
	errH2Settings     = errors.New("too many SETTINGS frames")
	errH2Pings        = errors.New("too many PING frames")
	errH2IdleFrames   = errors.New("too many WINDOW_UPDATE, PRIORITY or empty DATA frames")
	errH2SlowHeaders  = errors.New("a header block took longer than the header timeout")
	errH2FrameTooLong = errors.New("a frame longer than any the server accepts")
	errH2HeaderBlock  = errors.New("a header block over the cap (CONTINUATION flood)")
)

// HTTP/2 frame types and flags the guard reads (RFC 9113 section 6).
const (
	h2FrameData         = 0x0
	h2FrameHeaders      = 0x1
	h2FramePriority     = 0x2
	h2FrameRSTStream    = 0x3
	h2FrameSettings     = 0x4
	h2FramePing         = 0x6
	h2FrameWindowUpdate = 0x8
	h2FrameContinuation = 0x9
	h2FlagAck           = 0x1
	h2FlagEndHeaders    = 0x4
	h2HeaderLen         = 9
	h2PrefaceLen        = 24 // "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", checked by the server
	h2MaxFrameLen       = 1 << 24
)

type budgetSpec struct{ burst, perSecond float64 }

// budget is a token bucket.
type budget struct {
	spec   budgetSpec
	tokens float64
	last   time.Time
}

func (b *budget) take(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.spec.burst
	} else {
		b.tokens = min(b.spec.burst, b.tokens+now.Sub(b.last).Seconds()*b.spec.perSecond)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// h2Scanner follows the frames of a client's byte stream, whatever the
// boundaries of the reads: it reads each frame's 9-byte header and skips
// its payload. It does not check what the HTTP/2 server checks.
type h2Scanner struct {
	preface int // bytes of the client preface still to skip
	hdr     [h2HeaderLen]byte
	hn      int    // bytes of hdr read
	left    uint32 // payload bytes of the current frame still to come
	inBlock bool   // a header block has begun and not ended
	endsIn  bool   // the current frame ends the header block
	block   uint32 // bytes of the header block so far

	resets, settings, pings, idle budget
	now                           func() time.Time
}

func newH2Scanner(now func() time.Time) *h2Scanner {
	return &h2Scanner{
		preface:  h2PrefaceLen,
		resets:   budget{spec: h2ResetBudget},
		settings: budget{spec: h2SettingsBudget},
		pings:    budget{spec: h2PingBudget},
		idle:     budget{spec: h2IdleFrameBudget},
		now:      now,
	}
}

// scan reads b, the next bytes from the client; an error means the
// client is abusive and its connection must close.
func (s *h2Scanner) scan(b []byte) error {
	for len(b) > 0 {
		switch {
		case s.preface > 0:
			n := min(s.preface, len(b))
			s.preface -= n
			b = b[n:]
		case s.left > 0:
			n := min(int(s.left), len(b))
			s.left -= uint32(n)
			b = b[n:]
			if s.left == 0 && s.endsIn {
				s.inBlock, s.endsIn = false, false
			}
		default:
			n := copy(s.hdr[s.hn:], b)
			s.hn += n
			b = b[n:]
			if s.hn < h2HeaderLen {
				return nil
			}
			s.hn = 0
			if err := s.frame(); err != nil {
				return err
			}
		}
	}
	return nil
}

// frame takes in a complete frame header.
func (s *h2Scanner) frame() error {
	length := uint32(s.hdr[0])<<16 | uint32(s.hdr[1])<<8 | uint32(s.hdr[2])
	typ, flags := s.hdr[3], s.hdr[4]
	if length >= h2MaxFrameLen {
		return errH2FrameTooLong
	}
	s.left = length
	switch typ {
	case h2FrameHeaders, h2FrameContinuation:
		if typ == h2FrameHeaders || !s.inBlock {
			s.block = 0
		}
		if s.block += length; s.block > h2MaxHeaderBlock {
			return errH2HeaderBlock
		}
		s.inBlock = true
		s.endsIn = flags&h2FlagEndHeaders != 0
		if s.endsIn && length == 0 {
			s.inBlock, s.endsIn = false, false
		}
	case h2FrameRSTStream:
		if !s.resets.take(s.now()) {
			return errH2Resets
		}
	case h2FrameSettings:
		if flags&h2FlagAck == 0 && !s.settings.take(s.now()) {
			return errH2Settings
		}
	case h2FramePing:
		if flags&h2FlagAck == 0 && !s.pings.take(s.now()) {
			return errH2Pings
		}
	case h2FrameWindowUpdate, h2FramePriority:
		if !s.idle.take(s.now()) {
			return errH2IdleFrames
		}
	case h2FrameData:
		if length == 0 && flags&h2FlagEndStream == 0 && !s.idle.take(s.now()) {
			return errH2IdleFrames
		}
	}
	return nil
}

// h2Guard is an HTTP/2 client connection whose reads pass through an
// h2Scanner. It is still a *tls.Conn to the server (ConnectionState), so
// requests see their TLS state.
type h2Guard struct {
	*tls.Conn
	scan *h2Scanner
	logf func(format string, args ...any)

	mu     sync.Mutex
	timer  *time.Timer // the header block's deadline, while one is open
	closed bool
}

func newH2Guard(c *tls.Conn, logf func(string, ...any)) *h2Guard {
	return &h2Guard{Conn: c, scan: newH2Scanner(time.Now), logf: logf}
}

// Read is called by the HTTP/2 server's one reading goroutine.
func (g *h2Guard) Read(b []byte) (int, error) {
	n, err := g.Conn.Read(b)
	if n > 0 {
		if serr := g.scan.scan(b[:n]); serr != nil {
			g.cut(serr)
			return 0, serr
		}
		g.watchBlock(g.scan.inBlock)
	}
	return n, err
}

// watchBlock starts the header block's deadline when one has begun, and
// stops it once it has ended.
func (g *h2Guard) watchBlock(open bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case g.closed:
	case open && g.timer == nil:
		g.timer = time.AfterFunc(h2HeaderTimeout, func() { g.cut(errH2SlowHeaders) })
	case !open && g.timer != nil:
		g.timer.Stop()
		g.timer = nil
	}
}

// cut closes an abusive client's connection.
func (g *h2Guard) cut(why error) {
	g.logf("proxy: closing the HTTP/2 connection of %s: %v", g.RemoteAddr(), why)
	g.Close()
}

func (g *h2Guard) Close() error {
	g.mu.Lock()
	g.closed = true
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.mu.Unlock()
	return g.Conn.Close()
}
