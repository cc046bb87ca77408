//go:build linux

package proxy

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"golang.org/x/sys/unix"
)

// An HTTP/2 stream's answer in an event loop: the HTTP/1.1 answer read
// from its connection (loop_h2_upstream_linux.go) and turned into HEADERS
// and DATA frames, which the windows then let out (loop_h2_flow_linux.go),
// and the proxy's own error pages.

// h2ReadUp reads what came back on a stream's connection.
func (l *evLoop) h2ReadUp(u *evConn) {
	s := u.stream
	x := &s.x
	if !x.headDone && len(u.in) == cap(u.in) {
		if cap(u.in) >= loopAnswerHeadMax {
			l.h2FailAnswer(s, http.StatusBadGateway, "the answer's headers are too large")
			return
		}
		u.in = append(u.in, make([]byte, max(4<<10, cap(u.in)))...)[:len(u.in)]
	}
	var n int
	var err error
	if x.headDone {
		n, err = sysRead(u.fd, l.buf)
	} else {
		n, err = sysRead(u.fd, u.in[len(u.in):cap(u.in)])
	}
	if n <= 0 {
		if err == unix.EAGAIN || err == unix.EINTR {
			return
		}
		l.h2UpGone(u)
		return
	}
	u.got = true
	c := s.h.c
	if x.headDone {
		l.h2Relay(s, l.buf[:n])
	} else {
		u.in = u.in[:len(u.in)+n]
		l.h2Answer(s)
	}
	if !c.closed {
		l.flush(c)
	}
}

// h2Answer reads the answer's head from u.in and starts the body.
func (l *evLoop) h2Answer(s *h2Stream) {
	x, u := &s.x, s.u
	for !x.headDone {
		i := bytes.Index(u.in, crlfcrlf)
		if i < 0 {
			if len(u.in) >= loopAnswerHeadMax {
				l.h2FailAnswer(s, http.StatusBadGateway, "the answer's headers are too large")
			}
			return
		}
		code, ok := l.h2AnswerHead(s, u.in[:i+4])
		if code < 200 && code != http.StatusContinue {
			x.interim += i + 4
		}
		if !ok {
			l.h2FailAnswer(s, http.StatusBadGateway, "malformed answer from the instance")
			return
		}
		u.in = u.in[:copy(u.in, u.in[i+4:])]
		if code >= 200 {
			x.headDone = true
		} else if x.interim > loopMaxInterim {
			l.h2FailAnswer(s, http.StatusBadGateway, "too many 1xx answers")
			return
		}
	}
	if !x.sniff {
		if x.mode == bodyNone || x.mode == bodyLength && x.remain == 0 {
			if len(u.in) > 0 {
				x.keepUp = false // more than the answer
			}
			if s.fast {
				x.st.status = x.st.upstreamStatus
				l.record(nil, x)
			}
			l.h2WriteHead(s, true)
			l.h2Finish(s)
			return
		}
		l.h2WriteHead(s, false)
	}
	body := u.in
	u.in = u.in[:0]
	l.h2Relay(s, body)
}

// h2AnswerHead reads an answer's head into s: its status, its fields
// without HTTP/1.1's connection fields and, for an answer from an
// instance, with the proxy's answer rules (headers.go) applied. An interim
// answer other than 100 is sent on at once; a final one once its
// Content-Type is sniffed, if it has none.
func (l *evLoop) h2AnswerHead(s *h2Stream, head []byte) (code int, ok bool) {
	x := &s.x
	fields, ok := x.readAnswerHead(head)
	if !ok {
		return 0, false
	}
	a := &x.answer
	code = a.code
	s.status = a.status[:3]
	hdr := s.hdr[:0]
	if code < 200 {
		if code == http.StatusContinue {
			return code, true
		}
		for _, f := range fields {
			if !h2ConnField(f.key, a.conn) {
				hdr = append(hdr, f)
			}
		}
		s.hdr = hdr
		l.h2WriteHead(s, false)
		return code, true
	}
	x.startBody()
	x.chunks.out, x.chunks.trailer = &s.pending, &s.trailer // the body without its framing
	x.keepUp = x.keepUp && s.fast                           // Front's goroutines close theirs
	x.sniff = s.fast && !a.hasType && x.mode != bodyNone && !(x.mode == bodyLength && a.cl == 0)
	rt := x.route
	for _, f := range fields {
		switch {
		case f.key == "Transfer-Encoding" || f.key == "Content-Length" || h2ConnField(f.key, a.conn):
			continue
		case f.key == "Trailer" && x.mode != bodyChunked:
			continue
		case s.fast && f.key != "Trailer" && !passAnswerField(rt, f.key, a.conn):
			continue
		}
		hdr = append(hdr, f)
	}
	if s.fast {
		x.st.upstreamStatus = code
		has := func(k string) bool {
			for _, f := range fields {
				if f.key == k && !hopField(k, a.conn) {
					return true
				}
			}
			return false
		}
		addAnswerFields(rt, true, x.st.fwd[3:4:4], x.st.setCookie, has, func(k string, vv []string) {
			for _, v := range vv {
				hdr = append(hdr, headerField{k, v})
			}
		})
		if !a.hasDate {
			hdr = append(hdr, headerField{"Date", l.date.format(l.now)})
		}
	}
	if a.hasCL && (x.mode == bodyLength || x.mode == bodyNone && code != http.StatusNoContent) {
		hdr = append(hdr, headerField{"Content-Length", strconv.FormatInt(a.cl, 10)})
	}
	s.hdr = hdr
	return code, true
}

// h2ConnField reports whether an HTTP/1.1 answer's field k is about its
// connection, which HTTP/2 does not allow (RFC 9113, 8.2.2).
func h2ConnField(k string, conn []string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade":
		return true
	}
	return hopField(k, conn)
}

// h2WriteHead sends s's status and fields as a header block; end when no
// body follows.
func (l *evLoop) h2WriteHead(s *h2Stream, end bool) {
	h := s.h
	h.encBuf.Reset()
	h.enc.WriteField(hpack.HeaderField{Name: ":status", Value: s.status})
	for _, f := range s.hdr {
		// A request ID is new each time: in HPACK's table it would only
		// push out the fields that repeat.
		h.enc.WriteField(hpack.HeaderField{Name: l.lowerKey(f.key), Value: f.value, Sensitive: f.key == "X-Request-Id"})
	}
	s.hdr = s.hdr[:0]
	l.h2WriteBlock(s, h.encBuf.Bytes(), end)
	if s.status[0] != '1' {
		s.headSent = true
	}
}

// h2WriteBlock sends a header block in frames of the client's size.
func (l *evLoop) h2WriteBlock(s *h2Stream, block []byte, end bool) {
	h := s.h
	n := min(len(block), int(h.maxSend))
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: block[:n], EndStream: end, EndHeaders: n == len(block)})
	for block = block[n:]; len(block) > 0; block = block[n:] {
		n = min(len(block), int(h.maxSend))
		h.fr.WriteContinuation(s.id, n == len(block), block[:n])
	}
}

// lowerKey returns a canonical field name in the lower case HTTP/2 wants,
// remembering the names it has seen.
func (l *evLoop) lowerKey(k string) string {
	if v, ok := l.lower[k]; ok {
		return v
	}
	v := strings.ToLower(k)
	if len(l.lower) < 512 {
		l.lower[k] = v
	}
	return v
}

// h2Relay takes the next bytes of the answer's body (for a chunked one,
// its framing: the chunk scanner puts the data in s.pending) and sends
// what the windows allow.
func (l *evLoop) h2Relay(s *h2Stream, b []byte) {
	x := &s.x
	done := false
	switch x.mode {
	case bodyNone, bodyLength:
		b, done = x.sized(b)
	case bodyChunked:
		before := x.chunks.dataLen
		n, end, err := x.chunks.scan(b)
		x.st.bytes += x.chunks.dataLen - before
		if err != nil {
			if s.fast {
				x.st.errText = x.st.backend.up.Name + ": " + err.Error()
			}
			l.h2Abort(s)
			return
		}
		if n < len(b) {
			x.keepUp = false
		}
		b, done = nil, end
	}
	if x.mode != bodyChunked {
		x.st.bytes += int64(len(b))
		s.pending = append(s.pending, b...)
	}
	if s.fast && x.st.status == 0 {
		x.st.status = x.st.upstreamStatus
	}
	if x.sniff {
		if !done && (len(s.pending) == 0 || x.mode == bodyLength && len(s.pending) < sniffLen) {
			return // more of the body first
		}
		s.hdr = append(s.hdr, headerField{"Content-Type", http.DetectContentType(s.pending[:min(len(s.pending), sniffLen)])})
		x.sniff = false
		l.h2WriteHead(s, false)
	}
	if done {
		if s.fast {
			l.record(nil, x) // before the client can see the end
		}
		s.endPending = true
		l.h2Release(s) // the answer is whole: its connection is not needed
	}
	l.h2Send(s)
	if !s.done && s.u != nil && !s.u.paused && (len(s.pending) > h2StreamHeld || len(s.h.c.out) > loopHighWater) {
		s.u.paused = true
		l.wantEvents(s.u)
	}
}

// h2SendTrailers sends an answer's trailer section as the header block
// that ends the stream.
func (l *evLoop) h2SendTrailers(s *h2Stream) {
	h := s.h
	h.encBuf.Reset()
	scanFields(string(s.trailer), func(key, value string) bool {
		if !h2ConnField(key, nil) {
			h.enc.WriteField(hpack.HeaderField{Name: l.lowerKey(key), Value: value})
		}
		return true
	})
	s.trailer = nil
	l.h2WriteBlock(s, h.encBuf.Bytes(), true)
}

// h2Abort cuts s short once part of its answer may have been sent: the
// client sees the stream reset, as x/net/http2 resets a stream whose
// handler failed.
func (l *evLoop) h2Abort(s *h2Stream) {
	if s.fast {
		l.record(nil, &s.x)
	}
	l.h2Reset(s.h, s.id, http2.ErrCodeInternal)
}

// h2FailAnswer answers a fast stream with the proxy's error page for
// status, unless its answer has begun.
func (l *evLoop) h2FailAnswer(s *h2Stream, status int, why string) {
	u := s.u
	s.u = nil
	if u != nil {
		u.stream = nil
		l.close(u)
	}
	b := s.x.st.backend
	if s.headSent || !s.fast {
		if s.fast {
			s.x.st.errText = b.up.Name + ": " + why
		}
		l.h2Abort(s)
		return
	}
	l.h2FailPage(s, b, status, why)
}

// h2FailPage answers a fast stream with the proxy's error page for status,
// as b failed for the reason why.
func (l *evLoop) h2FailPage(s *h2Stream, b *backend, status int, why string) {
	x := &s.x
	x.headDone, x.sniff = true, false
	rec := x.failPage(b, status, why)
	s.status = strconv.Itoa(status)
	hdr := s.hdr[:0]
	for k, vv := range rec.header {
		for _, v := range vv {
			hdr = append(hdr, headerField{k, v})
		}
	}
	s.hdr = append(hdr, headerField{"Date", l.date.format(l.now)}, headerField{"Content-Length", strconv.Itoa(rec.body.Len())})
	l.record(nil, x)
	l.h2WriteHead(s, s.rq.method == http.MethodHead)
	if s.rq.method == http.MethodHead {
		l.h2Finish(s)
	} else {
		s.pending = append(s.pending[:0], rec.body.Bytes()...)
		s.endPending = true
		l.h2Send(s)
	}
}
