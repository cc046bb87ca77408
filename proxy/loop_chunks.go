package proxy

import (
	"errors"

	"golang.org/x/net/http/httpguts"
)

// chunkScanner follows a chunked body (RFC 9112, section 7.1) as it passes
// through unchanged, to find where it ends: after the last chunk and the
// trailer section. It is as strict as net/http's reader: lines end in
// CRLF, sizes are hex, a chunk's data ends in CRLF.
type chunkScanner struct {
	state   int
	size    int64
	digits  int
	lineLen int // bytes of the extension or trailer line so far

	dataLen int64 // bytes of chunk data so far

	// data, when set, collects the first sniffLen bytes of chunk data.
	data    *[]byte
	sniffed []byte

	// out and trailer, when set, collect all of the chunk data and the
	// trailer section's lines: the body without its framing, as HTTP/2
	// sends it.
	out, trailer *[]byte
}

const (
	csSize = iota // the first digit of a chunk size
	csSizeMore
	csSizeWS // spaces after the size, before the line's end
	csExt
	csSizeLF
	csData
	csDataCR
	csDataLF
	csTrailer // the start of a trailer field, or the final CRLF
	csTrailerName
	csTrailerValue
	csTrailerLF
	csEndLF
	csDone
)

// Limits on a chunked body's lines.
const (
	maxChunkSizeDigits = 15       // sizes up to 1 PB
	maxChunkLine       = 4000     // a size line, as net/http's 4 KB
	maxTrailerLine     = 64 << 10 // a trailer field
)

var errChunked = errors.New("malformed chunked encoding")

// sniffLen is how much of a body Content-Type sniffing looks at.
const sniffLen = 512

// scan takes the next bytes of the body and returns how many of them
// belong to it; done once the body has ended there.
func (s *chunkScanner) scan(b []byte) (n int, done bool, err error) {
	for n < len(b) {
		c := b[n]
		switch s.state {
		case csSize, csSizeMore, csSizeWS, csExt:
			s.lineLen++
			if s.lineLen >= maxChunkLine {
				return n, false, errChunked
			}
			d := unhex(c)
			switch {
			case c == '\r':
				if s.state == csSize {
					return n, false, errChunked
				}
				s.state = csSizeLF
			case s.state == csExt:
				if c == '\n' {
					return n, false, errChunked
				}
			case d >= 0 && (s.state == csSize || s.state == csSizeMore):
				if s.digits == maxChunkSizeDigits {
					return n, false, errChunked
				}
				s.size, s.digits, s.state = s.size<<4|int64(d), s.digits+1, csSizeMore
			case (c == ' ' || c == '\t') && (s.state == csSizeMore || s.state == csSizeWS):
				s.state = csSizeWS
			case c == ';' && s.state == csSizeMore:
				s.state = csExt
			default:
				return n, false, errChunked
			}
		case csSizeLF:
			if c != '\n' {
				return n, false, errChunked
			}
			if s.size == 0 {
				s.state = csTrailer
			} else {
				s.state = csData
			}
		case csData:
			k := int64(len(b) - n)
			if k > s.size {
				k = s.size
			}
			if s.out != nil {
				*s.out = append(*s.out, b[n:n+int(k)]...)
			}
			if s.data != nil && len(*s.data) < sniffLen {
				*s.data = append(*s.data, b[n:n+int(min(k, int64(sniffLen-len(*s.data))))]...)
			}
			n += int(k)
			s.size -= k
			s.dataLen += k
			if s.size == 0 {
				s.state = csDataCR
			}
			continue
		case csDataCR:
			if c != '\r' {
				return n, false, errChunked
			}
			s.state = csDataLF
		case csDataLF:
			if c != '\n' {
				return n, false, errChunked
			}
			s.state, s.digits, s.size, s.lineLen = csSize, 0, 0, 0
		case csTrailer:
			if s.trailer != nil && c != '\r' {
				*s.trailer = append(*s.trailer, c)
			}
			switch {
			case c == '\r':
				s.state = csEndLF
			case httpguts.IsTokenRune(rune(c)):
				s.state, s.lineLen = csTrailerName, 1
			default:
				return n, false, errChunked // a folded line, or no name
			}
		case csTrailerName, csTrailerValue:
			if s.trailer != nil && c != '\r' {
				*s.trailer = append(*s.trailer, c)
			}
			switch {
			case s.lineLen >= maxTrailerLine:
				return n, false, errChunked
			case s.state == csTrailerName && c == ':':
				s.state = csTrailerValue
			case s.state == csTrailerName && !httpguts.IsTokenRune(rune(c)):
				return n, false, errChunked
			case s.state == csTrailerValue && c == '\r':
				s.state = csTrailerLF
			case s.state == csTrailerValue && (c < ' ' && c != '\t' || c == 0x7f):
				return n, false, errChunked
			}
			s.lineLen++
		case csTrailerLF:
			if c != '\n' {
				return n, false, errChunked
			}
			if s.trailer != nil {
				if len(*s.trailer) > maxTrailerLine {
					return n, false, errChunked
				}
				*s.trailer = append(*s.trailer, '\r', '\n')
			}
			s.state = csTrailer
		case csEndLF:
			if c != '\n' {
				return n, false, errChunked
			}
			s.state = csDone
			return n + 1, true, nil
		case csDone:
			return n, true, nil
		}
		n++
	}
	return n, s.state == csDone, nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
