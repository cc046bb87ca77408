//go:build linux

package proxy

import "golang.org/x/net/http2"

// Clients that stop reading, in an event loop: the send timeout. A
// client's connection whose socket takes none of its unsent bytes for
// clientSendTimeout, or an HTTP/2 stream whose window stays shut that
// long with an answer waiting, is cut, and with it the connection to the
// instance (a slow read would otherwise hold that connection, and the
// instance's worker, for good). The sweeps watch the bytes sent, so the
// requests' own path only counts them.

// sendStalled reports whether c's socket has taken none of its unsent
// bytes since a sweep clientSendTimeout ago.
func (l *evLoop) sendStalled(c *evConn) bool {
	if len(c.out) == 0 || c.sent != c.sentMark || c.stuckAt.IsZero() {
		c.sentMark, c.stuckAt = c.sent, l.now
		return false
	}
	return l.now.Sub(c.stuckAt) > l.g.p.sendTimeout
}

// cutStalled closes a client that stopped reading, and the instance
// connections of its requests, noting why in their router lines.
func (l *evLoop) cutStalled(c *evConn) {
	if x := c.x; x != nil {
		x.st.stoppedReading()
	}
	if h := c.h2; h != nil {
		for _, s := range h.streams {
			if s.fast {
				s.x.st.stoppedReading()
			}
		}
	}
	l.gone(c)
}

// h2CutStalledStreams resets the streams of h whose answers have waited
// for a window for clientSendTimeout.
func (l *evLoop) h2CutStalledStreams(h *h2Conn) {
	for id, s := range h.streams {
		if !s.blocked || s.done || l.now.Sub(s.movedAt) <= l.g.p.sendTimeout {
			continue
		}
		if s.fast {
			s.x.st.stoppedReading()
		}
		l.h2Reset(h, id, http2.ErrCodeCancel)
	}
}
