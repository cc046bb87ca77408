//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzH2RequestHead: a header block the server accepts becomes exactly one
// HTTP/1.1 request for Front's goroutines, with the method, target, host
// and fields the client sent, whatever the bytes: no field can end the
// head early or smuggle a second request. Each line of the input is a
// field, its name and value split by a NUL.
func FuzzH2RequestHead(f *testing.F) {
	for _, seed := range []string{
		":method\x00GET\n:scheme\x00https\n:authority\x00app.localhost\n:path\x00/\n",
		":method\x00POST\n:scheme\x00https\n:authority\x00app.localhost\n:path\x00/up?a=b\ncontent-length\x0010\ncookie\x00a=1\ncookie\x00b=2\n",
		":method\x00GET\n:scheme\x00https\n:path\x00/\nhost\x00app.localhost\nx-a\x00b\r\nGET / HTTP/1.1\n",
		":method\x00GET\n:scheme\x00https\n:authority\x00app.localhost\n:path\x00/ HTTP/1.1\r\nX: y\n",
		":method\x00OPTIONS\n:scheme\x00https\n:authority\x00a\n:path\x00*\nte\x00trailers\n",
		":method\x00CONNECT\n:authority\x00a:443\n",
	} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	f.Fuzz(func(t *testing.T, in string, ended bool) {
		var fields []hpack.HeaderField
		for _, line := range strings.Split(in, "\n") {
			name, value, ok := strings.Cut(line, "\x00")
			if ok {
				fields = append(fields, hpack.HeaderField{Name: name, Value: value})
			}
		}
		var rq h2Request
		if !rq.parse(fields) || rq.method == http.MethodConnect {
			return
		}
		head := rq.appendHead(nil, ended)
		br := bufio.NewReader(bytes.NewReader(head))
		r, err := http.ReadRequest(br)
		if err != nil {
			t.Fatalf("accepted %q, but its head %q does not parse: %v", in, head, err)
		}
		if br.Buffered() != 0 {
			t.Fatalf("accepted %q: its head %q holds more than one request", in, head)
		}
		if r.Method != rq.method || r.RequestURI != rq.path || r.Host != rq.authority {
			t.Fatalf("accepted %q: the head %q reads as %s %s for %s", in, head, r.Method, r.RequestURI, r.Host)
		}
		for _, f := range rq.fields {
			if got := r.Header.Values(f.key); len(got) == 0 || !containsValue(got, f.value) {
				t.Fatalf("accepted %q: %s: %q lost in %q (read %q)", in, f.key, f.value, head, got)
			}
		}
	})
}

func containsValue(vv []string, v string) bool {
	for _, x := range vv {
		if x == strings.Trim(v, " \t") {
			return true
		}
	}
	return false
}

// FuzzH2Frames sends what follows a client's preface and SETTINGS to a
// loop's HTTP/2 server: whatever the frames, the server answers them or
// closes the connection, and goes on serving others (a panic in a loop
// would stop the agent).
func FuzzH2Frames(f *testing.F) {
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock(), EndStream: true, EndHeaders: true})
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock(), EndHeaders: true})
	fr.WriteData(1, false, []byte("body"))
	fr.WriteRSTStream(1, http2.ErrCodeCancel)
	fr.WriteData(1, true, []byte("more"))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: headerBlock(), EndStream: true, EndHeaders: true})
	f.Add(append([]byte(nil), b.Bytes()...))
	b.Reset()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: headerBlock()[:5], EndStream: true})
	fr.WriteContinuation(3, true, headerBlock()[5:])
	fr.WriteWindowUpdate(3, 1<<31-1)
	fr.WriteWindowUpdate(0, 1<<31-1)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	fr.WritePing(false, [8]byte{1})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 2, BlockFragment: headerBlock(), EndStream: true, EndHeaders: true})
	f.Add(append([]byte(nil), b.Bytes()...))
	f.Add([]byte("\x00\x00\x04\x08\x00\x00\x00\x00\x01\x00\x00\x00\x00"))
	f.Add([]byte("\xff\xff\xff\x01\x05\x00\x00\x00\x01"))

	u := newUpstream(f, "web.1")
	p := New(Config{Domain: "localhost"})
	f.Cleanup(func() { p.Close() })
	p.SetRoutes([]Route{appRoute("app", u)})
	_, addr := serveTLSLoops(f, p, LoopConfig{})
	tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	f.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: rewriteTo{addr: addr, rt: tr}, Timeout: 5 * time.Second}
	f.Fuzz(func(t *testing.T, frames []byte) {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		io.WriteString(c, http2.ClientPreface)
		http2.NewFramer(c, nil).WriteSettings()
		c.Write(frames)
		c.CloseWrite()
		if _, err := io.Copy(io.Discard, c); err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("after %x the server neither closed the connection nor went on", frames) // the client's side ended
		}
		// The front still serves a request on a new connection.
		resp, err := client.Get("https://app.localhost/")
		if err != nil {
			t.Fatalf("after %x: %v", frames, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after %x: %s", frames, resp.Status)
		}
	})
}
