package proxy

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// frames writes an HTTP/2 client's bytes: the preface, then what write
// adds with a Framer.
func frames(write func(fr *http2.Framer)) []byte {
	var buf bytes.Buffer
	buf.WriteString(http2.ClientPreface)
	write(http2.NewFramer(&buf, nil))
	return buf.Bytes()
}

var fixedClock = func() time.Time { return time.Unix(1e9, 0) }

func TestH2ScannerBudgetsAndHeaderBlocks(t *testing.T) {
	block := headerBlock()
	for _, tc := range []struct {
		name    string
		write   func(fr *http2.Framer)
		err     error
		inBlock bool
	}{
		{"a request", func(fr *http2.Framer) {
			fr.WriteSettings()
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block, EndHeaders: true})
			fr.WriteData(1, true, []byte("hello"))
		}, nil, false},
		{"a header block not ended", func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block})
			fr.WriteContinuation(1, false, block)
		}, nil, true},
		{"a header block ended by a CONTINUATION", func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block})
			fr.WriteContinuation(1, true, block)
		}, nil, false},
		{"a header block of 64 KB", func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block})
			for range 4 {
				fr.WriteContinuation(1, false, make([]byte, 16<<10))
			}
			fr.WriteContinuation(1, true, block)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: make([]byte, 16<<10), EndHeaders: true})
		}, nil, false},
		{"CONTINUATION flood", func(fr *http2.Framer) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block})
			for range 100 {
				fr.WriteContinuation(1, false, make([]byte, 16<<10))
			}
		}, errH2HeaderBlock, false},
		{"a navigation's resets", func(fr *http2.Framer) {
			for i := range 100 {
				fr.WriteRSTStream(uint32(2*i+1), http2.ErrCodeCancel)
			}
		}, nil, false},
		{"rapid reset", func(fr *http2.Framer) {
			for i := range 1000 {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: block, EndHeaders: true, EndStream: true})
				fr.WriteRSTStream(uint32(2*i+1), http2.ErrCodeCancel)
			}
		}, errH2Resets, false},
		{"SETTINGS flood", func(fr *http2.Framer) {
			for range 100 {
				fr.WriteSettings()
			}
		}, errH2Settings, false},
		{"SETTINGS acknowledgements are not counted", func(fr *http2.Framer) {
			for range 100 {
				fr.WriteSettingsAck()
			}
		}, nil, false},
		{"PING flood", func(fr *http2.Framer) {
			for range 100 {
				fr.WritePing(false, [8]byte{})
			}
		}, errH2Pings, false},
		{"PING answers are not counted", func(fr *http2.Framer) {
			for range 100 {
				fr.WritePing(true, [8]byte{})
			}
		}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := frames(tc.write)
			// In one read, and a byte at a time: the same outcome.
			for _, step := range []int{len(b), 1} {
				s := newH2Scanner(fixedClock)
				var err error
				for i := 0; i < len(b) && err == nil; i += step {
					err = s.scan(b[i:min(i+step, len(b))])
				}
				if !errors.Is(err, tc.err) || (err == nil && s.inBlock != tc.inBlock) {
					t.Errorf("reads of %d bytes: error %v, in a header block %v; want %v, %v", step, err, s.inBlock, tc.err, tc.inBlock)
				}
			}
		})
	}
}

func TestH2BudgetRefills(t *testing.T) {
	now := time.Unix(1e9, 0)
	b := budget{spec: budgetSpec{burst: 2, perSecond: 10}}
	if !b.take(now) || !b.take(now) || b.take(now) {
		t.Fatal("a budget of 2 did not allow exactly 2 at once")
	}
	if !b.take(now.Add(100 * time.Millisecond)) {
		t.Error("10 a second did not refill one in 100 ms")
	}
}

// FuzzH2Scanner: any bytes, cut anywhere, give the outcome of one read,
// and the scanner never panics.
func FuzzH2Scanner(f *testing.F) {
	f.Add(frames(func(fr *http2.Framer) {
		fr.WriteSettings()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock()})
		fr.WriteContinuation(1, true, []byte{0x82})
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
	}), uint16(30))
	f.Add([]byte(http2.ClientPreface+"\xff\xff\xff\x01\x00"), uint16(3))
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		whole := newH2Scanner(fixedClock)
		werr := whole.scan(b)
		split := newH2Scanner(fixedClock)
		c := min(int(cut), len(b))
		serr := split.scan(b[:c])
		if serr == nil {
			serr = split.scan(b[c:])
		}
		if !errors.Is(serr, werr) || (werr == nil && (whole.inBlock != split.inBlock || whole.left != split.left || whole.hn != split.hn || whole.block != split.block)) {
			t.Fatalf("cut at %d: %v / %+v, whole: %v / %+v", c, serr, split, werr, whole)
		}
	})
}
