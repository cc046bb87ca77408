package proxy

import (
	"net/http"
	"strconv"
	"strings"
)

// The heads the proxy writes to and reads from instances, written once for
// both engines: Front's goroutines (upstream.go) and the event loops
// (loop_*_linux.go) write the same request head and read answers with the
// same parser.

// headerField is one field of a head, its key canonical.
type headerField struct{ key, value string }

// outHead is the request for the instance as appendRequestHead takes it:
// the request line's parts and the client's fields, as a header (Front's
// goroutines) or a list in order (the event loops).
type outHead struct {
	method, target, host string
	header               http.Header
	fields               []headerField
	conn                 []string // the Connection values
	bodyLen              int
}

// appendRequestHead appends the head of the request for the instance: the
// request line, Host, the client's fields without the hop-by-hop ones and
// those the proxy sets itself, the body's length, and the forwarding
// headers and request ID of fwd (reqState.fwd). The fields have been
// validated as they were read.
func appendRequestHead(b []byte, o *outHead, fwd *[5]string) []byte {
	b = append(b, o.method...)
	b = append(b, ' ')
	b = append(b, o.target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, o.host...)
	b = append(b, "\r\n"...)
	te := false
	for k, vv := range o.header {
		for _, v := range vv {
			b = o.appendField(b, k, v, &te)
		}
	}
	for _, f := range o.fields {
		b = o.appendField(b, f.key, f.value, &te)
	}
	switch {
	case o.bodyLen > 0:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(o.bodyLen), 10)
		b = append(b, "\r\n"...)
	case o.method == http.MethodPost || o.method == http.MethodPut || o.method == http.MethodPatch:
		b = append(b, "Content-Length: 0\r\n"...)
	}
	if te {
		b = append(b, "Te: trailers\r\n"...)
	}
	b = appendField(b, "X-Forwarded-For", fwd[0])
	b = appendField(b, "X-Forwarded-Proto", fwd[1])
	b = appendField(b, "X-Forwarded-Host", fwd[2])
	b = appendField(b, "X-Request-Id", fwd[3])
	b = appendField(b, "X-Real-Ip", fwd[4])
	return append(b, "\r\n"...)
}

// appendField appends the client's field k unless the proxy drops it or
// writes it itself; te notes a TE: trailers, which is passed on.
func (o *outHead) appendField(b []byte, k, v string, te *bool) []byte {
	switch k {
	case "Host", "Content-Length", "Expect", "X-Request-Id":
		return b
	case "Te":
		*te = *te || headerHasToken([]string{v}, "trailers")
	}
	if hopField(k, o.conn) || forwardingHeader(k) {
		return b
	}
	return appendField(b, k, v)
}

// hopField reports whether the field k concerns only one connection: a
// hop-by-hop header, or one its Connection values (conn) name.
func hopField(k string, conn []string) bool {
	return hopByHop(k) || len(conn) > 0 && headerHasToken(conn, k)
}

func appendField(b []byte, k, v string) []byte {
	b = append(b, k...)
	b = append(b, ": "...)
	b = append(b, v...)
	return append(b, "\r\n"...)
}

// answerHead is what the proxy reads from an instance's answer head, by the
// same rules on both engines: statusLine takes its first line and field
// each of its fields.
type answerHead struct {
	proto, status string // "HTTP/1.1", "200 OK"
	code          int
	cl            int64 // Content-Length, -1 without one
	hasCL         bool
	dupCL         bool // Content-Length repeated, with the same value
	chunked       bool // Transfer-Encoding: chunked
	trailer       bool // a Trailer field
	closeConn     bool // Connection: close
	keepAlive     bool // Connection: keep-alive
	hasDate       bool
	hasType       bool     // a Content-Type
	conn          []string // the Connection values
}

// statusLine reads an answer's status line: HTTP/1.1 or HTTP/1.0, a
// three-digit code from 100, an optional reason, no control characters.
func (a *answerHead) statusLine(line string) bool {
	proto, status, ok := strings.Cut(line, " ")
	if !ok || proto != "HTTP/1.1" && proto != "HTTP/1.0" || len(status) < 3 ||
		(len(status) > 3 && status[3] != ' ') || strings.ContainsFunc(status, isCTL) {
		return false
	}
	code := 0
	for i := 0; i < 3; i++ {
		if status[i] < '0' || status[i] > '9' {
			return false
		}
		code = code*10 + int(status[i]-'0')
	}
	if code < 100 {
		return false
	}
	*a = answerHead{proto: proto, status: status, code: code, cl: -1, conn: a.conn[:0]}
	return true
}

// field reads one field of the answer: it says whether the field is kept
// (a repeated Content-Length is not) and whether the head may go on (a
// malformed Content-Length, conflicting ones or a Transfer-Encoding other
// than chunked end it).
func (a *answerHead) field(key, value string) (keep, ok bool) {
	switch key {
	case "Content-Length":
		v, err := strconv.ParseUint(value, 10, 63) // digits only, as net/http wants
		if err != nil || a.hasCL && int64(v) != a.cl {
			return false, false
		}
		if a.hasCL {
			a.dupCL = true
			return false, true
		}
		a.cl, a.hasCL = int64(v), true
	case "Transfer-Encoding":
		if a.chunked || !strings.EqualFold(value, "chunked") {
			return false, false
		}
		a.chunked = true
	case "Trailer":
		a.trailer = true
	case "Connection":
		a.conn = append(a.conn, value)
		if headerHasToken([]string{value}, "close") {
			a.closeConn = true
		}
		if headerHasToken([]string{value}, "keep-alive") {
			a.keepAlive = true
		}
	case "Date":
		a.hasDate = true
	case "Content-Type":
		a.hasType = true
	}
	return true, true
}
