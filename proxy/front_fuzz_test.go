package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// seen is what a server made of a request.
type seen struct {
	Method, RequestURI, Host, Path, RawQuery string
	Header                                   http.Header
	ContentLength                            int64
	Close                                    bool
	Body                                     string
}

func seenOf(r *http.Request) (seen, error) {
	b, err := io.ReadAll(r.Body)
	return seen{
		Method: r.Method, RequestURI: r.RequestURI, Host: r.Host,
		Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header,
		ContentLength: r.ContentLength, Close: r.Close, Body: string(b),
	}, err
}

// netHTTPOracle serves requests with net/http's own server and reports what
// it made of each, or its error answer.
type netHTTPOracle struct {
	addr string
	got  chan seen
}

func startNetHTTPOracle(tb testing.TB) *netHTTPOracle {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	o := &netHTTPOracle{addr: l.Addr().String(), got: make(chan seen, 1)}
	srv := NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := seenOf(r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		o.got <- s
	}), "")
	go srv.Serve(l)
	tb.Cleanup(func() { srv.Close() })
	return o
}

// serve sends raw on a new connection and returns what net/http's handler
// saw, or an error with net/http's answer when it refused the request.
func (o *netHTTPOracle) serve(raw []byte) (seen, error) {
	c, err := net.DialTimeout("tcp", o.addr, 5*time.Second)
	if err != nil {
		return seen{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(raw); err != nil {
		return seen{}, err
	}
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return seen{}, fmt.Errorf("no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return seen{}, fmt.Errorf("net/http answered %s", resp.Status)
	}
	select {
	case s := <-o.got:
		return s, nil
	case <-time.After(5 * time.Second):
		return seen{}, fmt.Errorf("net/http's handler saw nothing")
	}
}

// FuzzLeanRequestsAgreeWithNetHTTP: whatever request head Front's lean
// parser takes, net/http's server takes too and sees the same request:
// method, target, host, headers, body length and keep-alive. A head the
// lean parser refuses goes to net/http, so refusing is always safe; taking
// one that net/http would refuse or read differently is the kind of
// disagreement that lets a request be smuggled past a proxy.
func FuzzLeanRequestsAgreeWithNetHTTP(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a.localhost\r\n\r\n",
		"GET /p/a%20th?q=1&r=%zz HTTP/1.1\r\nHost: a.localhost:8080\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n",
		"POST /api HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}",
		"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
		"PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET / HTTP/1.1\r\nhost: a\r\nx-a: 1\r\nX-A: 2\r\nconnection: close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX:\ta\t \r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
		"GET /#frag HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET // HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n",
		"get / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.10\r\nHost: a\r\n\r\n",
		"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: a\r\n\n\r\n",
	} {
		f.Add([]byte(s))
	}
	o := startNetHTTPOracle(f)
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	f.Fuzz(func(t *testing.T, raw []byte) {
		fc := &frontConn{f: &Front{}, remoteAddr: "192.0.2.1:1234"}
		fc.base = (&http.Request{}).WithContext(ctx)
		br := bufio.NewReaderSize(bytes.NewReader(raw), frontBufSize)
		head, err := readHead(br, func() {})
		if err != nil {
			return
		}
		r, ok := fc.parseRequest(head)
		if !ok {
			return
		}
		// The lean path waits for the body behind the head; give both the
		// same bytes.
		body := raw[len(head):]
		n := int(r.ContentLength)
		if len(body) < n {
			return // the lean path would wait for the rest
		}
		body = body[:n]
		r.Body = io.NopCloser(bytes.NewReader(body))
		lean, err := seenOf(r)
		if err != nil {
			t.Fatal(err)
		}
		msg := append(append([]byte(nil), head...), body...)
		std, err := o.serve(msg)
		if err != nil {
			t.Fatalf("the lean path takes %q but net/http does not: %v", msg, err)
		}
		if len(lean.Header) == 0 && len(std.Header) == 0 {
			lean.Header, std.Header = nil, nil
		}
		if !reflect.DeepEqual(lean, std) {
			t.Fatalf("the lean path and net/http read %q differently:\nlean     %+v\nnet/http %+v", msg, lean, std)
		}
		if strings.Contains(string(head), "\n\n") {
			t.Fatalf("the lean path took a head with a bare LF: %q", head)
		}
	})
}

// FuzzReadResponseAgreesWithNetHTTP: the lean client's answer parser reads
// every answer as http.ReadResponse does: status, headers, body length and
// keep-alive, the same body, and the connection left at the same byte, so
// a pooled connection never carries part of one answer into the next.
func FuzzReadResponseAgreesWithNetHTTP(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\nx-a: 2\r\n\r\nhiNEXT",
		"HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 304 Not Modified\r\n\r\n",
		"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\n\r\nall of it",
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nX-A: 1\r\n 2\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nhi",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 999 X\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nhi",
		"HTTP/1.1 200 OK\r\nX: a\x00b\r\nContent-Length: 0\r\n\r\n",
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"), true)
	f.Fuzz(func(t *testing.T, raw []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		read := func(parse func(*bufio.Reader, *http.Request) (*http.Response, error)) (resp *http.Response, body string, bodyErr bool, rest string, err error) {
			br := bufio.NewReaderSize(bytes.NewReader(raw), 4<<10)
			resp, err = parse(br, &http.Request{Method: method})
			if err != nil {
				return nil, "", false, "", err
			}
			b, berr := io.ReadAll(resp.Body)
			resp.Body.Close()
			left, _ := io.ReadAll(br)
			return resp, string(b), berr != nil, string(left), nil
		}
		var st reqState
		lean, lbody, lberr, lrest, lerr := read(st.readResponse)
		std, sbody, sberr, srest, serr := read(http.ReadResponse)
		if (lerr != nil) != (serr != nil) {
			t.Fatalf("%q: the lean parser says %v, http.ReadResponse %v", raw, lerr, serr)
		}
		if lerr != nil {
			return
		}
		type answer struct {
			Code          int
			Header        http.Header
			ContentLength int64
			Close         bool
			Body          string
			BodyErr       bool
			Rest          string
		}
		if len(lean.Header) == 0 && len(std.Header) == 0 {
			lean.Header, std.Header = nil, nil
		}
		l := answer{lean.StatusCode, lean.Header, lean.ContentLength, lean.Close, lbody, lberr, lrest}
		s := answer{std.StatusCode, std.Header, std.ContentLength, std.Close, sbody, sberr, srest}
		if !reflect.DeepEqual(l, s) {
			t.Fatalf("%q (%s) is read differently:\nlean          %+v\nReadResponse  %+v", raw, method, l, s)
		}
	})
}
