//go:build linux

package proxy

import (
	"time"

	"golang.org/x/net/http2"
)

// HTTP/2 flow control in an event loop (RFC 9113, 5.2): the windows the
// client gives the server's answers, which DATA waits for, and those the
// server gives the client's request bodies, given back as the bytes are
// passed on; and going on once a client or a stream's connection took
// what it was sent.

// h2WindowUpdate opens the connection's window (id 0) or a stream's for
// the answers by inc, and sends what waited for it.
func (l *evLoop) h2WindowUpdate(h *h2Conn, id uint32, inc int64) error {
	if id == 0 {
		if inc == 0 {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		if h.sendWin += inc; h.sendWin > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		l.h2Pump(h)
		return nil
	}
	if id > h.lastID {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	s := h.streams[id]
	if s == nil {
		return nil // a stream already closed
	}
	switch s.sendWin += inc; {
	case inc == 0:
		l.h2Refuse(h, id, http2.ErrCodeProtocol)
	case s.sendWin > 1<<31-1:
		l.h2Refuse(h, id, http2.ErrCodeFlowControl)
	default:
		l.h2Pump(h)
	}
	return nil
}

// h2Credit gives back the window of n request bytes that were passed on
// (s nil: bytes of no stream), in batches.
func (l *evLoop) h2Credit(h *h2Conn, s *h2Stream, n int64) {
	h.credit += n
	if h.credit >= h2CreditBatch {
		h.fr.WriteWindowUpdate(0, uint32(h.credit))
		h.recvWin += h.credit
		h.credit = 0
	}
	if s == nil || s.remoteDone {
		return
	}
	s.credit += n
	if s.credit >= h2CreditBatch {
		h.fr.WriteWindowUpdate(s.id, uint32(s.credit))
		s.recvWin += s.credit
		s.credit = 0
	}
}

// h2UpDrained goes on once a stream's connection took what it was sent:
// the window of the request body bytes it held comes back.
func (l *evLoop) h2UpDrained(s *h2Stream) {
	u := s.u
	if len(u.out) == 0 && s.fast {
		s.x.reqSent = true
	}
	if s.owed > 0 && len(u.out) == 0 && !s.h.c.closed {
		n := s.owed
		s.owed = 0
		l.h2Credit(s.h, s, n)
		if !s.h.serving {
			l.flush(s.h.c)
		}
	}
}

// h2Drained goes on once the client read most of what it was sent:
// instances paused for it are read again, frames left unread are served.
func (l *evLoop) h2Drained(c *evConn) {
	h := c.h2
	for _, s := range h.streams {
		if u := s.u; u != nil && u.paused && len(s.pending) < h2StreamHeld {
			u.paused = false
			l.wantEvents(u)
		}
	}
	if h.stalled && !h.serving {
		h.stalled = false
		h2Buffer(c)
		l.serveH2(c)
	}
}

// h2Send sends as much of s.pending as the windows allow, and the end of
// the answer once all of it is sent.
func (l *evLoop) h2Send(s *h2Stream) {
	h := s.h
	sent := 0
	for sent < len(s.pending) {
		n := min(int64(len(s.pending)-sent), s.sendWin, h.sendWin, int64(h.maxSend))
		if n <= 0 {
			break
		}
		end := s.endPending && s.trailer == nil && sent+int(n) == len(s.pending)
		h.fr.WriteData(s.id, end, s.pending[sent:sent+int(n)])
		sent += int(n)
		s.sendWin -= n
		h.sendWin -= n
	}
	s.pending = s.pending[:copy(s.pending, s.pending[sent:])]
	if len(s.pending) > 0 {
		// For the send timeout (loop_stall_linux.go): the answer moved
		// once the stream sent as much as it holds for its window, so
		// that a client cannot keep it by opening the window a byte at a
		// time.
		if s.movedSent += sent; s.movedAt.IsZero() || s.movedSent >= h2StreamHeld {
			s.movedAt, s.movedSent = l.now, 0
		}
		if !s.blocked {
			s.blocked = true
			h.blocked = append(h.blocked, s)
		}
		return
	}
	s.movedAt, s.movedSent = time.Time{}, 0
	if cap(s.pending) > 4*h2StreamHeld {
		s.pending = nil
	}
	if !s.endPending || s.done {
		return
	}
	switch {
	case s.trailer != nil:
		l.h2SendTrailers(s)
	case sent == 0:
		h.fr.WriteData(s.id, true, nil)
	}
	l.h2Finish(s)
}

// h2Pump sends what the streams waiting for a window can send now.
func (l *evLoop) h2Pump(h *h2Conn) {
	if len(h.blocked) == 0 || h.sendWin <= 0 {
		return
	}
	blocked := h.blocked
	h.blocked = nil
	for _, s := range blocked {
		s.blocked = false
		if s.done {
			continue
		}
		l.h2Send(s)
		if u := s.u; u != nil && u.paused && len(s.pending) < h2StreamHeld && len(h.c.out) <= loopHighWater {
			u.paused = false
			l.wantEvents(u)
		}
	}
}
