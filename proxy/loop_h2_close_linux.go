//go:build linux

package proxy

import (
	"errors"
	"net/http"
	"time"

	"golang.org/x/net/http2"
)

// How HTTP/2 streams and connections end in an event loop: RST_STREAM for
// a stream, GOAWAY for a connection (an error, a closing front, an idle
// one), the deadlines the sweep keeps, and a client that left.

// h2Reset ends stream id with RST_STREAM.
func (l *evLoop) h2Reset(h *h2Conn, id uint32, code http2.ErrCode) {
	if s := h.streams[id]; s != nil {
		l.h2Cancel(s, "stream error: "+code.String())
	}
	h.fr.WriteRSTStream(id, code)
}

// h2Refuse ends stream id with RST_STREAM for the client's error. Such
// resets count against the budget of the client's own (a rapid reset made
// of stream errors), and the connection ends once it is spent.
func (l *evLoop) h2Refuse(h *h2Conn, id uint32, code http2.ErrCode) {
	if !h.resets.take(l.now) {
		h.abusive = true
	}
	l.h2Reset(h, id, code)
}

// h2Fail ends the connection for err: a GOAWAY with its code, then close.
func (l *evLoop) h2Fail(c *evConn, err error) {
	h := c.h2
	code := http2.ErrCodeProtocol
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &ce):
		code = http2.ErrCode(ce)
	case errors.Is(err, errH2Preface):
		l.gone(c)
		return
	case errors.Is(err, errH2Resets), errors.Is(err, errH2Settings), errors.Is(err, errH2Pings),
		errors.Is(err, errH2IdleFrames), errors.Is(err, errH2HeaderBlock):
		code = http2.ErrCodeEnhanceYourCalm
		l.g.f.logf("proxy: HTTP/2 client %s: %v", c.remoteStr, err)
	}
	for _, s := range h.streams {
		l.h2Cancel(s, "connection error: "+code.String())
	}
	h.goAway = true
	h.fr.WriteGoAway(h.lastID, code, nil)
	c.closeOut = true
	l.flush(c)
}

// h2GoAway tells the client no new stream will be served; the connection
// closes once its streams are answered.
func (l *evLoop) h2GoAway(c *evConn) {
	h := c.h2
	if !h.goAway {
		h.goAway = true
		h.fr.WriteGoAway(h.lastID, http2.ErrCodeNo, nil)
	}
	if len(h.streams) == 0 {
		c.closeOut = true
	}
	l.flush(c)
}

// h2Deadline sets when c closes if nothing happens: a header block's
// timeout while one is being read, the idle timeout without streams.
func (l *evLoop) h2Deadline(c *evConn) {
	h := c.h2
	switch {
	case h.blockID != 0 || !h.preface:
		c.deadline = h.blockAt.Add(l.g.headerTimeout)
	case len(h.streams) == 0:
		c.deadline = h.idleSince.Add(l.g.idleTimeout) // frames without a stream do not keep it
	default:
		c.deadline = time.Time{}
	}
}

// h2Sweep closes c when its deadline passed, answers 504 for streams
// whose instance did not answer in time, and sends GOAWAY once the loop
// is closing.
func (l *evLoop) h2Sweep(c *evConn) {
	h := c.h2
	if !c.deadline.IsZero() && l.now.After(c.deadline) {
		if h.blockID != 0 || !h.preface {
			l.gone(c) // a slow header block or preface
			return
		}
		l.h2GoAway(c)
		return
	}
	for _, s := range h.streams {
		if x := &s.x; s.fast && s.u != nil && !x.headDone && !x.dialing && l.now.After(x.deadline) {
			l.h2FailAnswer(s, http.StatusGatewayTimeout, "did not answer in time")
		}
	}
	l.h2CutStalledStreams(h)
	if l.closing {
		l.h2GoAway(c) // and flushed
	} else {
		l.flush(c)
	}
}

// h2Gone ends the streams of a client connection that closed.
func (l *evLoop) h2Gone(c *evConn) {
	for _, s := range c.h2.streams {
		l.h2Cancel(s, "client closed the connection")
	}
}
