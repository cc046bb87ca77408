//go:build linux

package proxy

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// An HTTP/2 stream in an event loop: its request, read from a header block
// and checked as RFC 9113 section 8 asks, sent as HTTP/1.1 to its instance
// or to Front's goroutines, and the HTTP/1.1 answer that comes back sent
// as HEADERS and DATA frames within the client's flow-control windows.

// h2Stream is one stream of an h2Conn.
type h2Stream struct {
	id   uint32
	h    *h2Conn
	rq   h2Request
	fast bool     // sent to its instance by the loop, with x; else to Front's goroutines
	x    exchange // the exchange, as an HTTP/1.1 client's in a loop
	u    *evConn  // the connection the request went on, until its answer ends

	sendWin, recvWin int64
	credit           int64 // request bytes passed on, window not given back yet
	owed             int64 // request bytes waiting in u.out, window held back
	bodyGot          int64
	pending          []byte        // answer bytes not yet sent, for the windows
	trailer          []byte        // an answer's trailer section, HTTP/1.1 style
	hdr              []headerField // an answer's fields, until its head is sent
	status           string        // its status code
	endPending       bool          // the answer ends after pending
	headSent         bool
	blocked          bool      // in h.blocked
	movedAt          time.Time // when its waiting answer last moved (h2Send), or began to wait
	movedSent        int       // DATA it sent since movedAt
	remoteDone       bool      // the client ended its side
	upShut           bool      // the request's connection takes no more of its body (it answered early)
	done             bool      // the stream is over for the server
	forgotten        bool      // its connection forgot it: it is recycled once the loop's events are handled
	gen              uint32    // counts its uses, for a dial that ends after it was recycled
}

// The loop keeps the streams it is done with for the next ones, with
// their buffers: a stream's memory was a fifth of an HTTP/2 request's
// garbage.
const h2FreeStreams = 256

// h2NewStream returns a stream to fill in.
func (l *evLoop) h2NewStream() *h2Stream {
	if n := len(l.h2Free); n > 0 {
		s := l.h2Free[n-1]
		l.h2Free[n-1] = nil
		l.h2Free = l.h2Free[:n-1]
		return s
	}
	return &h2Stream{}
}

// h2Recycle keeps the streams forgotten since the last call, once nothing
// in the loop points at them: it runs between batches of events.
func (l *evLoop) h2Recycle() {
	for i, s := range l.h2Done {
		l.h2Done[i] = nil
		if s.u != nil || len(l.h2Free) >= h2FreeStreams {
			continue
		}
		x := &s.x
		keep := func(b []byte) []byte {
			if cap(b) > h2StreamHeld {
				return nil
			}
			return b[:0]
		}
		*s = h2Stream{gen: s.gen + 1, pending: keep(s.pending), hdr: s.hdr[:0], rq: h2Request{fields: s.rq.fields[:0]},
			x: exchange{req: keep(x.req), fields: x.fields[:0]}}
		l.h2Free = append(l.h2Free, s)
	}
	l.h2Done = l.h2Done[:0]
}

// h2Request is a stream's request, as its header block gave it.
type h2Request struct {
	method, path, authority string
	fields                  []headerField // regular fields, canonical keys, cookie crumbs joined
	cl                      int64         // the content-length, -1 without one
}

// h2Open starts stream id with the header block just decoded.
func (l *evLoop) h2Open(h *h2Conn, id uint32, endStream bool) {
	s := l.h2NewStream()
	s.id, s.h, s.sendWin, s.recvWin, s.remoteDone = id, h, int64(h.initWin), h2StreamWindow, endStream
	if h.listLen > ServerMaxHeaderBytes {
		h.streams[id] = s
		l.h2Page(s, http.StatusRequestHeaderFieldsTooLarge, "Request Header Fields Too Large\n")
		return
	}
	if !s.rq.parse(h.fields) || endStream && s.rq.cl > 0 {
		l.h2Refuse(h, id, http2.ErrCodeProtocol)
		return
	}
	h.streams[id] = s
	if s.rq.method == http.MethodConnect {
		l.h2Page(s, http.StatusMethodNotAllowed, "Method Not Allowed\n")
		return
	}
	if endStream && l.h2Fast(s) {
		return
	}
	l.h2Bridge(s)
}

// parse reads the request from a header block's fields; false when it is
// malformed.
func (rq *h2Request) parse(fields []hpack.HeaderField) bool {
	rq.cl = -1
	var scheme, host, cookie string
	regular, hasHost := false, false
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") {
			var p *string
			switch f.Name {
			case ":method":
				p = &rq.method
			case ":path":
				p = &rq.path
			case ":scheme":
				p = &scheme
			case ":authority":
				p = &rq.authority
			default:
				return false
			}
			if regular || *p != "" || f.Value == "" {
				return false
			}
			*p = f.Value
			continue
		}
		regular = true
		if !httpguts.ValidHeaderFieldName(f.Name) || strings.ToLower(f.Name) != f.Name || !httpguts.ValidHeaderFieldValue(f.Value) {
			return false
		}
		switch f.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return false
		case "te":
			if f.Value != "trailers" {
				return false
			}
			continue
		case "host":
			if hasHost {
				return false
			}
			host, hasHost = f.Value, true
			continue
		case "cookie":
			if cookie != "" {
				cookie += "; "
			}
			cookie += f.Value
			continue
		case "content-length":
			n, err := strconv.ParseUint(f.Value, 10, 63)
			if err != nil || rq.cl >= 0 && int64(n) != rq.cl {
				return false
			}
			if rq.cl >= 0 {
				continue // the same length twice
			}
			rq.cl = int64(n)
		}
		rq.fields = append(rq.fields, headerField{http.CanonicalHeaderKey(f.Name), f.Value})
	}
	if cookie != "" {
		rq.fields = append(rq.fields, headerField{"Cookie", cookie})
	}
	if rq.authority == "" {
		rq.authority = host
	}
	if rq.method == http.MethodConnect {
		return rq.authority != "" && rq.path == "" && scheme == ""
	}
	if !httpguts.ValidHeaderFieldName(rq.method) || scheme == "" || rq.path == "" ||
		rq.authority == "" || !httpguts.ValidHostHeader(rq.authority) {
		return false
	}
	if rq.path[0] != '/' && !(rq.path == "*" && rq.method == http.MethodOptions) {
		return false
	}
	for i := 0; i < len(rq.path); i++ {
		if c := rq.path[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	if strings.IndexByte(rq.path, '%') >= 0 {
		if _, err := url.ParseRequestURI(rq.path); err != nil {
			return false // a bad escape, refused as x/net/http2 refuses it
		}
	}
	return true
}

// h2Fast sends s's request to its instance from the loop when the loops
// would forward it as an HTTP/1.1 request; false leaves it to Front's
// goroutines.
func (l *evLoop) h2Fast(s *h2Stream) bool {
	lr := leanRequest{method: s.rq.method, target: s.rq.path, host: s.rq.authority, hasHost: true}
	x := &s.x
	fields := x.fields[:0]
	for _, f := range s.rq.fields {
		keep, ok := lr.field(f.key, f.value)
		if !ok {
			return false
		}
		if keep {
			fields = append(fields, f)
		}
	}
	c := s.h.c
	if !lr.complete(nil) {
		return false
	}
	b := l.admitLean(x, &lr, fields, 0, nil, c.remote, c.remoteStr, true)
	if b == nil {
		return false
	}
	x.closeAfter = false
	s.fast = true
	l.h2SendUp(s, b)
	return true
}

// h2Body passes n bytes of a request body (data, and padding) on to the
// stream's connection.
func (l *evLoop) h2Body(s *h2Stream, data []byte, n int64, end bool) {
	h := s.h
	u := s.u
	s.bodyGot += int64(len(data))
	if s.rq.cl >= 0 && (s.bodyGot > s.rq.cl || end && s.bodyGot != s.rq.cl) {
		l.h2Refuse(h, s.id, http2.ErrCodeProtocol)
		l.h2Credit(h, nil, n)
		return
	}
	if end {
		s.remoteDone = true
	}
	if u == nil || s.fast || s.upShut {
		l.h2Credit(h, nil, n) // the answer came already, or will without the rest
		if end && s.done {
			l.h2Forget(s)
		}
		return
	}
	var out []byte
	if s.rq.cl < 0 && len(data) > 0 {
		out = strconv.AppendInt(out, int64(len(data)), 16)
		out = append(out, "\r\n"...)
		out = append(out, data...)
		out = append(out, "\r\n"...)
	} else {
		out = data
	}
	if end && s.rq.cl < 0 {
		out = append(out, "0\r\n\r\n"...)
	}
	if !l.sendBody(u, out) {
		l.h2Credit(h, nil, n)
		return
	}
	// The window comes back once the socket took the bytes: what the
	// loop holds for a connection's request bodies stays within its
	// window, however many streams send.
	if len(u.out) > 0 {
		s.owed += n
	} else {
		l.h2Credit(h, s, n)
	}
}

// sendBody sends request body bytes on u, keeping what the socket does
// not take; false once u takes no more: Front's goroutines answered without
// reading the whole body and closed their end. The answer is still read.
func (l *evLoop) sendBody(u *evConn, b []byte) bool {
	s := u.stream
	if len(u.out) == 0 {
		rest, err := writeSome(u.fd, b)
		if err != nil {
			s.upShut = true
			return false
		}
		b = rest
	}
	if len(b) > 0 {
		u.out = append(u.out, b...)
		l.wantEvents(u)
	}
	return true
}

// h2Trailers takes the trailers that end a request body.
func (l *evLoop) h2Trailers(s *h2Stream, fields []hpack.HeaderField) {
	h := s.h
	var out []byte
	for _, f := range fields {
		if strings.HasPrefix(f.Name, ":") || !httpguts.ValidHeaderFieldName(f.Name) || !httpguts.ValidHeaderFieldValue(f.Value) {
			l.h2Refuse(h, s.id, http2.ErrCodeProtocol)
			return
		}
		out = appendField(out, http.CanonicalHeaderKey(f.Name), f.Value)
	}
	s.remoteDone = true
	if s.rq.cl >= 0 && s.bodyGot != s.rq.cl {
		l.h2Refuse(h, s.id, http2.ErrCodeProtocol)
		return
	}
	if s.u == nil || s.fast {
		if s.done {
			l.h2Forget(s)
		}
		return
	}
	if s.rq.cl < 0 && !s.upShut {
		out = append(append([]byte("0\r\n"), out...), "\r\n"...)
		l.sendBody(s.u, out)
	}
}

// h2Cancel ends s before its answer did: its connection closes (the
// instance sees the request go), and a request the loop sent is logged as
// the client's leaving.
func (l *evLoop) h2Cancel(s *h2Stream, why string) {
	if s.done {
		l.h2Forget(s)
		return
	}
	s.done = true
	if u := s.u; u != nil {
		s.u, u.stream = nil, nil
		l.close(u)
	}
	if x := &s.x; s.fast && !x.recorded {
		if !x.headDone {
			x.st.fail(statusClientClosed, why)
		}
		l.record(nil, x)
	}
	l.h2Forget(s)
}

// h2Forget drops s from its connection once neither side has more to
// send on it.
func (l *evLoop) h2Forget(s *h2Stream) {
	h := s.h
	if h.streams[s.id] == s {
		delete(h.streams, s.id)
	}
	if s.blocked {
		s.blocked = false
		for i, b := range h.blocked {
			if b == s {
				h.blocked = append(h.blocked[:i], h.blocked[i+1:]...)
				break
			}
		}
	}
	if s.owed > 0 {
		// Body bytes the stream's connection never took: their window
		// comes back to the connection.
		l.h2Credit(h, nil, s.owed)
		s.owed = 0
	}
	if !s.forgotten {
		s.forgotten = true
		l.h2Done = append(l.h2Done, s)
	}
	if len(h.streams) == 0 {
		if h.goAway {
			h.c.closeOut = true
		}
		h.idleSince = l.now
		l.h2Deadline(h.c)
	}
}

// h2Release gives back the connection s's request went on, once its
// answer is all read: to the pool when it may serve again.
func (l *evLoop) h2Release(s *h2Stream) {
	u := s.u
	if u == nil {
		return
	}
	s.u, u.stream = nil, nil
	if s.fast && s.x.keepUp {
		l.putIdle(u)
	} else {
		l.close(u)
	}
}

// h2Finish ends the answer of s, whose last frame is in c.out.
func (l *evLoop) h2Finish(s *h2Stream) {
	s.done = true
	l.h2Release(s)
	if !s.remoteDone {
		// The answer ended before the request (RFC 9113, 8.1): the rest
		// of its body is not wanted.
		s.h.fr.WriteRSTStream(s.id, http2.ErrCodeNo)
	}
	l.h2Forget(s)
}

// h2Page answers s with a short page of the server's own.
func (l *evLoop) h2Page(s *h2Stream, status int, body string) {
	s.status = strconv.Itoa(status)
	s.hdr = append(s.hdr[:0], headerField{"content-type", "text/plain; charset=utf-8"},
		headerField{"content-length", strconv.Itoa(len(body))}, headerField{"date", l.date.format(l.now)})
	l.h2WriteHead(s, false)
	s.pending = append(s.pending, body...)
	s.endPending = true
	l.h2Send(s)
}
