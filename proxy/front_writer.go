package proxy

import (
	"bufio"
	"fmt"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
)

// frontWriter is the lean path's ResponseWriter: it writes the answer's
// head and body straight into the connection's buffer, with net/http's
// rules for framing (Content-Length when known or when a short answer ends
// before a flush, chunked otherwise), Date, Content-Type sniffing, bodies
// not allowed for HEAD, 204 and 304, informational answers and trailers.
type frontWriter struct {
	fc         *frontConn
	bw         *bufio.Writer
	req        *http.Request
	header     http.Header
	now        time.Time
	status     int
	wroteHdr   bool // the final status is set
	sentHdr    bool // the head is in bw
	cl         int64
	written    int64
	chunked    bool
	noBody     bool
	closeAfter bool
	err        error
	pending    []byte // body held back while it may still get a Content-Length
	trailers   []string
}

// holdBack is how much body is held back, as net/http does, so that a
// short answer without a Content-Length gets one instead of chunks.
const holdBack = 2048

func (w *frontWriter) reset(fc *frontConn, r *http.Request, now time.Time) {
	h := w.header
	if h == nil {
		h = make(http.Header, 16)
	} else {
		clear(h)
	}
	*w = frontWriter{fc: fc, bw: fc.bw, req: r, header: h, now: now, cl: -1,
		pending: w.pending[:0], trailers: w.trailers[:0], closeAfter: r.Close}
}

func (w *frontWriter) Header() http.Header { return w.header }

func (w *frontWriter) WriteHeader(code int) {
	if w.wroteHdr {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeStatusLine(code)
		w.writeFields()
		w.bw.WriteString("\r\n")
		if err := w.bw.Flush(); err != nil && w.err == nil {
			w.err = err
		}
		return
	}
	w.wroteHdr, w.status = true, code
	if v := w.header["Content-Length"]; len(v) == 1 {
		if n, err := strconv.ParseInt(v[0], 10, 64); err == nil && n >= 0 {
			w.cl = n
		} else {
			delete(w.header, "Content-Length")
		}
	}
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
}

func (w *frontWriter) Write(b []byte) (int, error) {
	if !w.wroteHdr {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			return len(b), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.cl >= 0 && w.written+int64(len(b)) > w.cl {
		return 0, http.ErrContentLength
	}
	if !w.sentHdr {
		if w.cl < 0 && len(w.pending)+len(b) <= holdBack {
			w.pending = append(w.pending, b...)
			w.written += int64(len(b))
			return len(b), nil
		}
		w.sendHeader(false, b)
	}
	w.writeBody(b)
	if w.err != nil {
		return 0, w.err
	}
	w.written += int64(len(b))
	return len(b), nil
}

// SetWriteDeadline sets the connection's write deadline: what
// http.ResponseController calls.
func (w *frontWriter) SetWriteDeadline(t time.Time) error { return w.fc.c.SetWriteDeadline(t) }

// Flush sends what is buffered; the head first if need be.
func (w *frontWriter) Flush() {
	if !w.wroteHdr {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHdr {
		w.sendHeader(false, nil)
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
}

// finish ends the answer once the handler returned; it reports whether the
// connection can carry another request.
func (w *frontWriter) finish() bool {
	if !w.wroteHdr {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHdr {
		w.sendHeader(true, nil)
	}
	if w.chunked && w.err == nil {
		w.bw.WriteString("0\r\n")
		w.writeTrailers()
		w.bw.WriteString("\r\n")
	}
	if w.cl >= 0 && !w.noBody && w.written != w.cl {
		w.closeAfter = true // the client could not tell where the answer ends
	}
	if w.err == nil {
		w.err = w.bw.Flush()
	}
	return w.err == nil && !w.closeAfter
}

// sendHeader writes the head, then the held-back body. final says the
// handler is done, so the held-back body is all of it.
func (w *frontWriter) sendHeader(final bool, next []byte) {
	w.sentHdr = true
	h := w.header
	switch {
	case w.status == http.StatusNoContent || w.status == http.StatusNotModified:
		delete(h, "Content-Length")
	case w.noBody:
	case w.cl < 0 && final:
		w.cl = int64(len(w.pending))
		h["Content-Length"] = []string{strconv.Itoa(len(w.pending))}
	case w.cl < 0:
		w.chunked = true
	}
	delete(h, "Transfer-Encoding")
	if !w.noBody && len(w.pending)+len(next) > 0 {
		if _, ok := h["Content-Type"]; !ok {
			sniff := w.pending
			if len(sniff) == 0 {
				sniff = next
			}
			h["Content-Type"] = []string{http.DetectContentType(sniff)}
		}
	}
	if headerHasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	if !w.closeAfter && w.fc.f.shuttingDown() {
		w.closeAfter = true
	}
	if w.closeAfter {
		h["Connection"] = connectionClose
	}
	for _, v := range h["Trailer"] {
		for k := range strings.SplitSeq(v, ",") {
			if k = textproto.TrimString(k); k != "" {
				w.trailers = append(w.trailers, textproto.CanonicalMIMEHeaderKey(k))
			}
		}
	}
	w.writeStatusLine(w.status)
	if _, ok := h["Date"]; !ok {
		w.bw.WriteString("Date: ")
		w.bw.WriteString(w.fc.date.format(w.now))
		w.bw.WriteString("\r\n")
	}
	w.writeFields()
	if w.chunked {
		w.bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	w.bw.WriteString("\r\n")
	if len(w.pending) > 0 {
		w.writeBody(w.pending)
	}
}

var connectionClose = []string{"close"}

func (w *frontWriter) writeStatusLine(code int) {
	w.bw.WriteString("HTTP/1.1 ")
	var b [3]byte
	w.bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	w.bw.WriteByte(' ')
	if text := http.StatusText(code); text != "" {
		w.bw.WriteString(text)
	} else {
		w.bw.WriteString("status code ")
		w.bw.Write(strconv.AppendInt(b[:0], int64(code), 10))
	}
	w.bw.WriteString("\r\n")
}

// writeFields writes the header fields, as net/http does: invalid names
// are skipped, line breaks in values become spaces.
func (w *frontWriter) writeFields() {
	for k, vv := range w.header {
		if k == "Transfer-Encoding" || strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		w.writeField(k, vv)
	}
}

func (w *frontWriter) writeField(k string, vv []string) {
	for _, v := range vv {
		if strings.ContainsAny(v, "\r\n") {
			v = newlineToSpace.Replace(v)
		}
		w.bw.WriteString(k)
		w.bw.WriteString(": ")
		w.bw.WriteString(textproto.TrimString(v))
		w.bw.WriteString("\r\n")
	}
}

var newlineToSpace = strings.NewReplacer("\n", " ", "\r", " ")

func (w *frontWriter) writeBody(b []byte) {
	if w.err != nil || len(b) == 0 {
		return
	}
	if w.chunked {
		var hex [16]byte
		w.bw.Write(strconv.AppendInt(hex[:0], int64(len(b)), 16))
		w.bw.WriteString("\r\n")
		w.bw.Write(b)
		_, w.err = w.bw.WriteString("\r\n")
		return
	}
	_, w.err = w.bw.Write(b)
}

// writeTrailers writes the trailers declared in the Trailer header and
// those set with http.TrailerPrefix.
func (w *frontWriter) writeTrailers() {
	for _, k := range w.trailers {
		if vv := w.header[k]; len(vv) > 0 && httpguts.ValidHeaderFieldName(k) {
			w.writeField(k, vv)
		}
	}
	for k, vv := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidHeaderFieldName(name) {
			w.writeField(textproto.CanonicalMIMEHeaderKey(name), vv)
		}
	}
}

// dateCache formats the Date header once a second.
type dateCache struct {
	sec int64
	s   string
}

func (d *dateCache) format(now time.Time) string {
	if sec := now.Unix(); sec != d.sec || d.s == "" {
		d.sec, d.s = sec, now.UTC().Format(http.TimeFormat)
	}
	return d.s
}

var (
	_ http.ResponseWriter = (*frontWriter)(nil)
	_ http.Flusher        = (*frontWriter)(nil)
)
