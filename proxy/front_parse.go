package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// errHandOver says the request is not for the lean path: net/http serves
// the connection from here on.
var errHandOver = errors.New("proxy: request handed to net/http")

// readHead waits until br holds a whole request head (up to the blank line
// that ends it) and returns it without consuming it; before it waits for
// more bytes it calls wait. A head that does not fit in br, or ends its
// lines with a bare LF, is handed over.
func readHead(br *bufio.Reader, wait func()) ([]byte, error) {
	from := 0
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.Index(buf[from:], crlfcrlf); i >= 0 {
			head := buf[:from+i+4]
			if bytes.Contains(head, lflf) {
				return nil, errHandOver
			}
			return head, nil
		}
		if bytes.Contains(buf, lflf) || len(buf) >= br.Size() {
			return nil, errHandOver
		}
		from = max(0, len(buf)-3)
		wait()
		if _, err := br.Peek(len(buf) + 1); err != nil {
			return nil, err
		}
	}
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
)

// parseRequest turns head into a request for the lean path: HTTP/1.1, an
// origin-form target, exactly one valid Host that f.Lean accepts, no body
// and no upgrade, every header well formed. Anything else is refused (ok
// false) and left to net/http, which answers every case, errors included,
// as a Go server does.
func (fc *frontConn) parseRequest(head []byte) (r *http.Request, ok bool) {
	s := string(head) // the request's strings all share this one
	line, rest, _ := strings.Cut(s, "\r\n")
	var lr leanRequest
	if !lr.requestLine(line) {
		return nil, false
	}
	h, ok := parseFields(rest, lr.field)
	if !ok || !lr.complete(fc.f.Lean) {
		return nil, false
	}
	u, ok := parseTarget(lr.target)
	if !ok {
		return nil, false
	}
	r = new(http.Request)
	*r = *fc.base // its context
	r.Method, r.URL, r.Proto, r.ProtoMajor, r.ProtoMinor = lr.method, u, "HTTP/1.1", 1, 1
	r.Header, r.Body, r.Host, r.Close = h, http.NoBody, lr.host, lr.closeAfter
	r.RemoteAddr, r.RequestURI, r.TLS = fc.remoteAddr, lr.target, fc.tlsState
	r.ContentLength = int64(lr.bodyLen)
	return r, true
}

// leanRequest holds what the lean path's rules read from a request head;
// Front's goroutines and its event loops share them.
type leanRequest struct {
	method, target, host string
	bodyLen              int
	closeAfter           bool
	hasHost, hasLen      bool
}

// requestLine checks the request line: a token method other than CONNECT,
// an origin-form target of visible ASCII, HTTP/1.1.
func (lr *leanRequest) requestLine(line string) bool {
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !validMethod(method) || method == http.MethodConnect ||
		len(target) == 0 || target[0] != '/' || !validTarget(target) {
		return false
	}
	lr.method, lr.target = method, target
	return true
}

// field applies the rules to one header field: it says whether the field
// is kept in the request's header and whether the head may go on.
func (lr *leanRequest) field(key, value string) (keep, ok bool) {
	switch key {
	case "Host":
		if lr.hasHost {
			return false, false
		}
		lr.host, lr.hasHost = value, true
		return false, true
	case "Content-Length":
		n, err := strconv.ParseUint(value, 10, 31) // digits only, as net/http wants
		if lr.hasLen || err != nil || n > frontBufSize {
			return false, false
		}
		lr.bodyLen, lr.hasLen = int(n), true
	case "Transfer-Encoding", "Upgrade", "Expect", "Trailer":
		return false, false
	case "Connection":
		if headerHasToken([]string{value}, "upgrade") {
			return false, false
		}
		if headerHasToken([]string{value}, "close") {
			lr.closeAfter = true
		}
	}
	return true, true
}

// complete checks what the whole head must have: one valid Host, which
// lean (Front.Lean, when set) accepts.
func (lr *leanRequest) complete(lean func(host string) bool) bool {
	if !lr.hasHost || lr.host == "" || !httpguts.ValidHostHeader(lr.host) {
		return false
	}
	return lean == nil || lean(lr.host)
}

// parseFields parses the header fields that follow a head's first line (up
// to and with the blank line) into a header whose values share rest. field
// sees each one, with its canonical key, and says whether to keep it and
// whether the head may go on. ok is false for a malformed field (a folded
// line among them: it begins with a space) or a refused one.
func parseFields(rest string, field func(key, value string) (keep, ok bool)) (h http.Header, ok bool) {
	n := strings.Count(rest, "\n") // field lines, and the blank one
	vals := make([]string, 0, n)
	h = make(http.Header, n)
	ok = scanFields(rest, func(key, value string) bool {
		keep, ok := field(key, value)
		if !ok || !keep {
			return ok
		}
		if prev, ok := h[key]; ok {
			h[key] = append(prev, value)
		} else {
			vals = append(vals, value)
			h[key] = vals[len(vals)-1 : len(vals) : len(vals)]
		}
		return true
	})
	if !ok {
		return nil, false
	}
	return h, true
}

// scanFields checks the header fields of rest as parseFields does and
// calls field with each one, canonical key first, until it returns false.
func scanFields(rest string, field func(key, value string) bool) bool {
	for {
		var line string
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			return true
		}
		name, value, found := strings.Cut(line, ":")
		if !found || !httpguts.ValidHeaderFieldName(name) {
			return false
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return false
		}
		if !field(canonicalKey(name), value) {
			return false
		}
	}
}

// leanBody is a request body the front read whole before the handler ran:
// small enough to share the connection's buffer with its head. The proxy's
// own client sends it from b; a retry sends it again.
type leanBody struct {
	*bytes.Reader
	b []byte
}

func (*leanBody) Close() error { return nil }

func newLeanBody(b []byte) *leanBody { return &leanBody{Reader: bytes.NewReader(b), b: b} }

// leanBodyOf returns r's body when the front read it whole, or nil.
func leanBodyOf(r *http.Request) *leanBody {
	lb, _ := r.Body.(*leanBody)
	return lb
}

// parseTarget parses an origin-form request target as url.ParseRequestURI
// does; one without escapes or a fragment needs no decoding.
func parseTarget(target string) (*url.URL, bool) {
	if strings.IndexByte(target, '%') < 0 && strings.IndexByte(target, '#') < 0 {
		path, query, hasQuery := strings.Cut(target, "?")
		return &url.URL{Path: path, RawQuery: query, ForceQuery: hasQuery && query == ""}, true
	}
	u, err := url.ParseRequestURI(target)
	return u, err == nil
}

// validMethod reports whether m is a token (RFC 9110, section 9.1).
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}

// validTarget reports whether the request target holds only visible ASCII.
func validTarget(t string) bool {
	for i := 0; i < len(t); i++ {
		if c := t[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// canonicalKey returns the canonical form of a header name, without
// allocating for the common ones.
func canonicalKey(name string) string {
	if k, ok := commonKeys[name]; ok {
		return k
	}
	return textproto.CanonicalMIMEHeaderKey(name)
}

var commonKeys = func() map[string]string {
	m := map[string]string{}
	for _, k := range []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Authorization",
		"Cache-Control", "Connection", "Content-Length", "Content-Type", "Cookie", "Dnt", "Host",
		"If-Match", "If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since",
		"Origin", "Pragma", "Priority", "Range", "Referer", "Sec-Ch-Ua", "Sec-Ch-Ua-Mobile",
		"Sec-Ch-Ua-Platform", "Sec-Fetch-Dest", "Sec-Fetch-Mode", "Sec-Fetch-Site", "Sec-Fetch-User",
		"Te", "Transfer-Encoding", "Upgrade", "Upgrade-Insecure-Requests", "User-Agent", "Via",
		"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "X-Request-Id",
		"X-Requested-With", "Expect", "Trailer", "Keep-Alive", "Forwarded",
		// and in answers
		"Accept-Ranges", "Access-Control-Allow-Credentials", "Access-Control-Allow-Headers",
		"Access-Control-Allow-Methods", "Access-Control-Allow-Origin", "Age", "Content-Disposition",
		"Content-Encoding", "Content-Language", "Content-Range", "Content-Security-Policy", "Date",
		"Etag", "Expires", "Last-Modified", "Link", "Location", "Permissions-Policy", "Referrer-Policy",
		"Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Vary", "Www-Authenticate",
		"X-Content-Type-Options", "X-Frame-Options", "X-Powered-By",
	} {
		m[k] = k
		m[strings.ToLower(k)] = k
	}
	return m
}()
