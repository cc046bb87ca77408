//go:build linux

package proxy

import (
	"net/http"
)

// An HTTP/2 stream's connection to its instance in an event loop: taken
// from the pool or dialed, the request sent on it, and what the instance
// closing it or failing means for the stream.

// h2SendUp sends a fast stream's request on an idle connection to b, or
// dials one.
func (l *evLoop) h2SendUp(s *h2Stream, b *backend) {
	if u := l.idleConn(b); u != nil {
		l.h2Attach(s, u)
		return
	}
	s.x.dialing = true
	gen := s.gen
	l.dial(b, func(u *evConn, err error) { l.h2Dialed(s, gen, b, u, err) })
}

// h2Dialed receives a new connection to b for s, unless s was recycled
// (its gen changed) meanwhile.
func (l *evLoop) h2Dialed(s *h2Stream, gen uint32, b *backend, u *evConn, err error) {
	x := &s.x
	if s.gen != gen || s.done || s.h.c.closed || !x.dialing {
		if u != nil {
			l.putIdle(u)
		}
		return
	}
	x.dialing = false
	if u != nil {
		l.h2Attach(s, u)
		l.flush(s.h.c)
		return
	}
	switch {
	case !isDialError(err) || l.g.ctx.Err() != nil:
		x.st.end()
		l.h2Bridge(s) // Front's goroutines try
	default:
		if next := l.nextBackend(x, b, err); next != nil {
			l.h2SendUp(s, next)
			return
		}
		l.h2FailPage(s, b, http.StatusBadGateway, err.Error())
	}
	l.flush(s.h.c)
}

func (l *evLoop) h2Attach(s *h2Stream, u *evConn) {
	s.u, u.stream = u, s
	u.in, u.got, u.paused = u.in[:0], false, false
	l.send(u, s.x.req)
	if !u.closed {
		s.x.reqSent = len(u.out) == 0
		l.wantEvents(u)
	}
}

// h2UpGone handles a stream's connection that closed or failed.
func (l *evLoop) h2UpGone(u *evConn) {
	s := u.stream
	x := &s.x
	switch {
	case x.headDone && x.mode == bodyToClose:
		x.keepUp = false
		s.endPending = true
		l.h2Release(s)
		if s.fast {
			l.record(nil, x)
		}
		if x.sniff {
			x.sniff = false
			s.hdr = append(s.hdr, headerField{"Content-Type", http.DetectContentType(s.pending[:min(len(s.pending), sniffLen)])})
			l.h2WriteHead(s, false)
		}
		l.h2Send(s)
	case x.headDone && x.sniff && s.fast:
		l.h2FailAnswer(s, http.StatusBadGateway, "the connection closed in the middle of the answer")
	case x.headDone:
		if s.fast {
			x.st.errText = x.st.backend.up.Name + ": the connection closed in the middle of the answer"
		}
		l.h2Abort(s)
	case s.fast && !u.got && resendable(x.idempotent, x.reqSent):
		// Nothing came back: Front's goroutines send it again, as for an
		// HTTP/1.1 client.
		s.u, u.stream = nil, nil
		l.close(u)
		u.be.resent()
		x.st.end()
		l.h2Bridge(s)
	case s.fast:
		l.h2FailAnswer(s, http.StatusBadGateway, "the connection closed before an answer")
	default:
		l.h2Abort(s)
	}
	if c := s.h.c; !c.closed && !s.h.serving {
		l.flush(c)
	}
}
