package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"net/textproto"
	"testing"
)

// FuzzChunkScannerAgreesWithNetHTTP holds the event loops' chunked-body
// scanner to net/http's reader: a body the scanner ends, net/http reads to
// its end too, trailers included, at the same byte. Where the two disagree
// on the end, a proxy and its instance disagree on where the next answer
// begins.
func FuzzChunkScannerAgreesWithNetHTTP(f *testing.F) {
	for _, s := range []string{
		"0\r\n\r\n", "5\r\nhello\r\n0\r\n\r\nrest", "5;a=b\r\nhello\r\n6 ; c\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n",
		"A\r\n0123456789\r\n0;last\r\n\r\n", "5\nhello\n0\n\n", "0\r\nX: 1\n\r\n", "00000\r\n\r\n", "+5\r\nhello\r\n0\r\n\r\n",
		"5 \r\nhello\r\n0\r\n\r\n", "0x5\r\nhello\r\n0\r\n\r\n", "0\r\n folded\r\n\r\n",
	} {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, body []byte, split int) {
		var s chunkScanner
		split = min(max(split, 0), len(body))
		n, done, err := s.scan(body[:split])
		if err == nil && !done {
			var n2 int
			n2, done, err = s.scan(body[split:])
			n += n2
		}
		if err != nil || !done {
			return // the loop closes the connection: no desync
		}
		// net/http must read the same bytes as one whole body.
		br := bufio.NewReader(bytes.NewReader(body))
		if _, err := io.Copy(io.Discard, httputil.NewChunkedReader(br)); err != nil {
			t.Fatalf("%q: the scanner ends it at %d, net/http fails: %v", body, n, err)
		}
		if _, err := textproto.NewReader(br).ReadMIMEHeader(); err != nil {
			t.Fatalf("%q: the scanner ends it at %d, net/http's trailers fail: %v", body, n, err)
		}
		if read := len(body) - br.Buffered(); read != n {
			t.Fatalf("%q: the scanner ends it at %d, net/http at %d", body, n, read)
		}
	})
}
