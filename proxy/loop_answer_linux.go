//go:build linux

package proxy

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// An answer in an event loop: its head read with answerHead and rewritten
// by the answer rules (headers.go) for the client, its body passed on as
// it comes, the end of the exchange, its log line, and the proxy's own
// error pages when the instance fails.

// exchange is one request from a client to an instance and its answer.
type exchange struct {
	start      time.Time
	method     string
	host       string
	path       string
	route      *route
	st         reqState // for the log and counters
	headLen    int      // the request's head in the client's buffer
	req        []byte   // the request for the instance
	deadline   time.Time
	headDone   bool // the answer's head is read
	sent       bool // the client's head is in its out buffer
	mode       int  // body framing, below
	remain     int64
	chunks     chunkScanner
	keepUp     bool
	closeAfter bool
	dialing    bool
	recorded   bool // the log line is written
	idempotent bool // the request may be sent again
	tries      int  // connections that could not be made
	interim    int  // bytes of the 1xx answers passed on
	reqSent    bool // the whole request is written to the instance
	fields     []headerField
	answer     answerHead

	// An answer without a Content-Type gets one sniffed from its first
	// bytes, as net/http writes it: its head waits for them.
	sniff bool
	head  []byte // the client's head without its final CRLF
	held  []byte // the answer's bytes held back meanwhile
}

// Answer body framing.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyToClose
)

// answer reads the answer's head from u.in and starts the body.
func (l *evLoop) answer(c *evConn, u *evConn) {
	x := c.x
	for !x.headDone {
		i := bytes.Index(u.in, crlfcrlf)
		if i < 0 {
			if len(u.in) >= loopAnswerHeadMax {
				l.failAnswer(c, u, http.StatusBadGateway, "the answer's headers are too large")
			}
			return
		}
		head := u.in[:i+4]
		code, ok := l.writeAnswerHead(c, x, head)
		if c.closed {
			return // gone while a 1xx answer was written
		}
		if !ok {
			l.failAnswer(c, u, http.StatusBadGateway, "malformed answer from the instance")
			return
		}
		u.in = u.in[:copy(u.in, u.in[i+4:])]
		if code < 200 {
			// A client that does not read them would have them pile up.
			if code != http.StatusContinue {
				x.interim += i + 4
			}
			if x.interim > loopMaxInterim {
				l.failAnswer(c, u, http.StatusBadGateway, "too many 1xx answers")
				return
			}
			continue
		}
		x.headDone = true
		// The request is answered: its head leaves the client's buffer.
		c.in = c.in[:copy(c.in, c.in[x.headLen:])]
	}
	body := u.in
	u.in = u.in[:0]
	l.relay(c, u, body)
}

// writeAnswerHead parses an answer's head and puts the client's version of
// it in c.out: hop-by-hop fields dropped, security headers, the request ID
// and Date added, framing kept. 1xx answers other than 100 are passed on.
func (l *evLoop) writeAnswerHead(c *evConn, x *exchange, head []byte) (code int, ok bool) {
	fields, ok := x.readAnswerHead(head)
	if !ok {
		return 0, false
	}
	a := &x.answer
	code = a.code
	if code < 200 {
		if code == http.StatusContinue {
			return code, true
		}
		out := append(c.out, "HTTP/1.1 "...)
		out = append(out, a.status...)
		out = append(out, "\r\n"...)
		for _, f := range fields {
			if !hopField(f.key, a.conn) {
				out = appendField(out, f.key, f.value)
			}
		}
		c.out = append(out, "\r\n"...)
		return code, l.flush(c)
	}
	x.startBody()
	if x.mode == bodyToClose || l.closing {
		x.closeAfter = true
	}
	x.sniff = !a.hasType && x.mode != bodyNone && !(x.mode == bodyLength && a.cl == 0)
	x.st.upstreamStatus = code
	rt := x.route

	out := append(c.out, "HTTP/1.1 "...)
	out = append(out, a.status...)
	if len(a.status) == 3 {
		out = append(out, ' ')
		out = append(out, http.StatusText(code)...)
	}
	out = append(out, "\r\n"...)
	for _, f := range fields {
		switch {
		case f.key == "Transfer-Encoding" || f.key == "Content-Length":
			continue // the framing, written below
		case f.key == "Trailer" && x.mode == bodyChunked:
			// passed on with the chunks
		case !passAnswerField(rt, f.key, a.conn):
			continue
		}
		out = appendField(out, f.key, f.value)
	}
	has := func(k string) bool {
		for _, f := range fields {
			if f.key == k && !hopField(k, a.conn) {
				return true
			}
		}
		return false
	}
	addAnswerFields(rt, c.tls != nil, x.st.fwd[3:4:4], x.st.setCookie, has, func(k string, vv []string) {
		for _, v := range vv {
			out = appendField(out, k, v)
		}
	})
	if !a.hasDate {
		out = appendField(out, "Date", l.date.format(l.now))
	}
	switch {
	case x.mode == bodyChunked:
		out = append(out, "Transfer-Encoding: chunked\r\n"...)
	case a.hasCL && (x.mode == bodyLength || x.method == http.MethodHead || code == http.StatusNotModified):
		out = append(out, "Content-Length: "...)
		out = strconv.AppendInt(out, a.cl, 10)
		out = append(out, "\r\n"...)
	}
	if x.closeAfter {
		out = append(out, "Connection: close\r\n"...)
	}
	if x.sniff {
		x.head = append(x.head[:0], out[len(c.out):]...)
		x.held = x.held[:0]
		return code, true
	}
	c.out = append(out, "\r\n"...)
	x.sent = true
	return code, true
}

// readAnswerHead parses an answer's head into x.answer and returns the
// fields the answer rules keep; false when it is malformed, or switches
// protocols when no upgrade was asked for. The request's fields were sent:
// their storage is used again.
func (x *exchange) readAnswerHead(head []byte) ([]headerField, bool) {
	line, rest, _ := strings.Cut(string(head), "\r\n")
	a := &x.answer
	if !a.statusLine(line) || a.code == http.StatusSwitchingProtocols {
		return nil, false
	}
	fields := x.fields[:0]
	ok := scanFields(rest, func(key, value string) bool {
		keep, ok := a.field(key, value)
		if ok && keep {
			fields = append(fields, headerField{key, value})
		}
		return ok
	})
	x.fields = fields[:0]
	return fields, ok
}

// startBody sets how the final answer's body is framed and whether its
// connection may serve again after it.
func (x *exchange) startBody() {
	a := &x.answer
	switch {
	case x.method == http.MethodHead || a.code == http.StatusNoContent || a.code == http.StatusNotModified:
		x.mode = bodyNone
	case a.chunked:
		x.mode = bodyChunked
		x.chunks = chunkScanner{}
	case a.hasCL:
		x.mode, x.remain = bodyLength, a.cl
	default:
		x.mode = bodyToClose
	}
	x.keepUp = !a.closeConn && (a.proto == "HTTP/1.1" || a.keepAlive) && x.mode != bodyToClose
}

// releaseHead puts the held head in c.out, with the Content-Type sniffed
// from data, and the held bytes after it.
func (x *exchange) releaseHead(c *evConn, data []byte) {
	out := append(c.out, x.head...)
	if len(data) > 0 {
		out = appendField(out, "Content-Type", http.DetectContentType(data))
	}
	out = append(out, "\r\n"...)
	c.out = append(out, x.held...)
	x.sniff, x.sent = false, true
}

// relay passes body bytes of the answer to the client, after whatever
// c.out already holds, and ends the exchange with the body.
func (l *evLoop) relay(c *evConn, u *evConn, b []byte) {
	x := c.x
	done := false
	switch x.mode {
	case bodyNone, bodyLength:
		b, done = x.sized(b)
	case bodyChunked:
		if x.sniff {
			x.chunks.data = &x.chunks.sniffed
		}
		before := x.chunks.dataLen
		n, end, err := x.chunks.scan(b)
		x.st.bytes += x.chunks.dataLen - before // the body, not its framing, as on Front's goroutines
		if err != nil {
			x.st.errText = u.be.up.Name + ": " + err.Error()
			x.closeAfter, x.keepUp = true, false
			done = true
		}
		if n < len(b) {
			x.keepUp = false
		}
		b, done = b[:n], done || end
	}
	if x.mode != bodyChunked {
		x.st.bytes += int64(len(b))
	}
	if x.st.status == 0 {
		x.st.status = x.st.upstreamStatus
	}
	if x.sniff {
		x.held = append(x.held, b...)
		data := x.held
		if x.mode == bodyChunked {
			data = x.chunks.sniffed
		}
		// A streamed body is sniffed from its first bytes, as Front's
		// goroutines flush each read; a sized one from its first 512.
		if !done && (len(data) == 0 || x.mode == bodyLength && len(data) < sniffLen) {
			return // more of the body first
		}
		x.releaseHead(c, data[:min(len(data), sniffLen)])
		b = nil
	}
	if done {
		l.record(c, x) // before the client can see the end, as on Front's goroutines
	}
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		if !l.flush(c) {
			return
		}
	} else if !l.send(c, b) {
		return
	}
	if done {
		l.endExchange(c, u)
		return
	}
	if len(c.out) > loopHighWater && !u.paused {
		u.paused = true
		l.wantEvents(u)
	}
}

// sized takes the next bytes of an answer without a body or with a
// Content-Length: those of the body, and whether it ended there. Bytes
// past it mean the connection cannot serve again.
func (x *exchange) sized(b []byte) ([]byte, bool) {
	if int64(len(b)) < x.remain && x.mode == bodyLength {
		x.remain -= int64(len(b))
		return b, false
	}
	if x.mode == bodyNone {
		x.remain = 0
	}
	if int64(len(b)) > x.remain {
		x.keepUp = false // more than the answer
	}
	b = b[:x.remain]
	x.remain = 0
	return b, true
}

// endExchange ends c's exchange once the answer is all in c.out.
func (l *evLoop) endExchange(c *evConn, u *evConn) {
	x := c.x
	c.peer, u.peer = nil, nil
	if x.keepUp {
		l.putIdle(u)
	} else {
		l.close(u)
	}
	l.record(c, x)
	c.x = nil
	if x.closeAfter || l.closing {
		c.closeOut = true
		l.flush(c)
		return
	}
	l.serveClient(c) // a pipelined request
}

// record writes the exchange's log line and counts it, once.
func (l *evLoop) record(c *evConn, x *exchange) {
	if x.recorded {
		return
	}
	x.recorded = true
	x.st.finish(x.host, x.method, x.path)
}

// failAnswer answers the client with an error page, once no byte of the
// instance's answer has been sent to it.
func (l *evLoop) failAnswer(c *evConn, u *evConn, status int, why string) {
	x := c.x
	c.peer, u.peer = nil, nil
	l.close(u)
	if x.sent {
		x.st.errText = u.be.up.Name + ": " + why
		l.record(c, x)
		c.x = nil
		c.closeOut = true
		l.flush(c)
		return
	}
	l.answerFailure(c, u.be, status, why)
}

// answerFailure answers c's exchange with the proxy's error page for
// status, as b failed for the reason why; nothing of an answer has been
// sent yet.
func (l *evLoop) answerFailure(c *evConn, b *backend, status int, why string) {
	x := c.x
	if !x.headDone {
		c.in = c.in[:copy(c.in, c.in[x.headLen:])]
		x.headDone = true
	}
	x.sniff, x.sent = false, true
	rec := x.failPage(b, status, why)
	out := append(c.out, "HTTP/1.1 "...)
	out = strconv.AppendInt(out, int64(status), 10)
	out = append(out, ' ')
	out = append(out, http.StatusText(status)...)
	out = append(out, "\r\n"...)
	for k, vv := range rec.header {
		for _, v := range vv {
			out = appendField(out, k, v)
		}
	}
	out = appendField(out, "Date", l.date.format(l.now))
	out = append(out, "Content-Length: "...)
	out = strconv.AppendInt(out, int64(rec.body.Len()), 10)
	out = append(out, "\r\n"...)
	if x.closeAfter {
		out = append(out, "Connection: close\r\n"...)
	}
	out = append(out, "\r\n"...)
	if x.method != http.MethodHead {
		out = append(out, rec.body.Bytes()...)
	}
	c.out = out
	l.record(c, x)
	c.x = nil
	if x.closeAfter || l.closing {
		c.closeOut = true
		l.flush(c)
		return
	}
	if l.flush(c) {
		l.serveClient(c)
	}
}

// failPage records x as failed with status, as b failed for the reason
// why, and returns the proxy's error page for it.
func (x *exchange) failPage(b *backend, status int, why string) *pageRecorder {
	rec := &pageRecorder{header: http.Header{}}
	st := &x.st
	st.ResponseWriter = rec
	st.fail(status, b.up.Name+": "+why)
	pg := badGatewayPage
	if status == http.StatusGatewayTimeout {
		pg = timeoutPage
	}
	writePage(st, status, pg, x.route.App)
	st.ResponseWriter = nil
	return rec
}

// pageRecorder holds an error page the loop then writes.
type pageRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (r *pageRecorder) Header() http.Header         { return r.header }
func (r *pageRecorder) WriteHeader(int)             {}
func (r *pageRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
