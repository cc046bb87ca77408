//go:build linux

package proxy

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// dialTLSRaw opens an HTTPS/1.1 connection to addr for raw requests.
func dialTLSRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func TestLoopServesHTTPS(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := appProxy(t, u)
	fr, addr := serveTLSLoops(t, p, LoopConfig{})
	rc := dialTLSRaw(t, addr)

	rc.send("GET /a HTTP/1.1\r\nHost: app.localhost\r\nX-Forwarded-Proto: http\r\n\r\n")
	resp, body := rc.read("GET")
	if resp.StatusCode != 200 || body != "web.1" {
		t.Fatalf("answer %d %q", resp.StatusCode, body)
	}
	for k, want := range map[string]string{
		"Echo-X-Forwarded-Proto":    "https",
		"Echo-X-Forwarded-For":      "127.0.0.1",
		"Strict-Transport-Security": "max-age=31536000",
		"X-Content-Type-Options":    "nosniff",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	// Forty requests in one write: more than the connection's buffer
	// holds, in more than one record.
	var reqs strings.Builder
	for i := range 40 {
		fmt.Fprintf(&reqs, "GET /p%d HTTP/1.1\r\nHost: app.localhost\r\nX-Padding: %s\r\n\r\n", i, strings.Repeat("x", 100))
	}
	if reqs.Len() <= frontBufSize {
		t.Fatalf("the pipelined requests are %d bytes, want more than %d", reqs.Len(), frontBufSize)
	}
	rc.send(reqs.String())
	for i := range 40 {
		resp, body := rc.read("GET")
		if resp.StatusCode != 200 || body != "web.1" {
			t.Fatalf("pipelined request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	if looped, handed := fr.LoopCounts(); looped != 41 || handed != 0 {
		t.Fatalf("looped %d, handed over %d: want 41 requests in the loop", looped, handed)
	}

	// A body larger than the loop takes: the connection goes on, on a
	// goroutine, still HTTPS to the app.
	big := strings.Repeat("b", 10<<10)
	rc.send(fmt.Sprintf("POST /body HTTP/1.1\r\nHost: app.localhost\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
	resp, body = rc.read("POST")
	if resp.StatusCode != 200 || body != fmt.Sprint(len(big)) || resp.Header.Get("Echo-X-Forwarded-Proto") != "https" ||
		resp.Header.Get("Strict-Transport-Security") == "" {
		t.Fatalf("large POST: %d %q, X-Forwarded-Proto %q", resp.StatusCode, body, resp.Header.Get("Echo-X-Forwarded-Proto"))
	}
	rc.send("GET /after HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	resp, body = rc.read("GET")
	if resp.StatusCode != 200 || body != "web.1" || resp.Header.Get("Echo-X-Forwarded-Proto") != "https" {
		t.Fatalf("after the hand-over: %d %q", resp.StatusCode, body)
	}
	if looped, handed := fr.LoopCounts(); looped != 41 || handed != 1 {
		t.Fatalf("looped %d, handed over %d: want the connection handed over once", looped, handed)
	}

	// HTTP/2 is served in a loop too (loop_h2_test.go has the rest).
	tr := &http2.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("GET", "https://"+addr+"/h2", nil)
	req.Host = "app.localhost"
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("HTTP/2: %d over %s", resp.StatusCode, resp.Proto)
	}
	if looped, _ := fr.LoopCounts(); looped != 42 {
		t.Fatalf("looped %d after an HTTP/2 request, want 42", looped)
	}
}

func TestLoopServesHTTPSUnderConcurrentTraffic(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	sum := sha256.Sum256(payload)
	p := bigUpstream(t, payload)
	fr, addr := serveTLSLoops(t, p, LoopConfig{})

	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, MaxIdleConnsPerHost: 16}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	get := func(path string) ([]byte, error) {
		req, _ := http.NewRequest("GET", "https://"+addr+path, nil)
		req.Host = "app.localhost"
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
			return nil, fmt.Errorf("%s over %s", resp.Status, resp.Proto)
		}
		return io.ReadAll(resp.Body)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for w := range 16 {
		wg.Go(func() {
			for i := range 25 {
				path := fmt.Sprintf("/w%d/%d", w, i)
				if i%10 == 9 {
					path = "/big"
				}
				b, err := get(path)
				switch {
				case err != nil:
					errs <- err
				case path == "/big" && sha256.Sum256(b) != sum:
					errs <- fmt.Errorf("/big: %d bytes, not the payload", len(b))
				case path != "/big" && string(b) != path:
					errs <- fmt.Errorf("%s answered %q", path, b)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if looped, handed := fr.LoopCounts(); looped != 400 || handed != 0 {
		t.Errorf("looped %d, handed over %d: want all 400 in the loops", looped, handed)
	}
}

func TestLoopCutsOffBadTLSClients(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := appProxy(t, u)
	fr, addr := serveTLSLoops(t, p, LoopConfig{headerTimeout: 300 * time.Millisecond, idleTimeout: 30 * time.Second})

	// A head that never ends.
	slow := dialTLSRaw(t, addr)
	slow.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n")
	start := time.Now()
	if _, err := slow.br.ReadByte(); err == nil {
		t.Fatal("a head that never ended was answered")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the slow head was cut after %v", d)
	}

	// Bytes that are no TLS record, after the handshake.
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(tc, "GET /ok HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	br := bufio.NewReader(tc)
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("before the garbage: %v", err)
	}
	io.ReadAll(resp.Body)
	raw.Write([]byte("\x17\x03\x03\x00\x20" + strings.Repeat("\xff", 32))) // an application record no key made
	tc.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := br.ReadByte(); err == nil || !strings.Contains(err.Error(), "bad record MAC") {
		t.Errorf("after a forged record the client read %v, want crypto/tls's alert", err)
	}
	raw.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.ReadAll(raw); err != nil { // up to the proxy's close
		t.Errorf("the connection stayed open after a forged record: %v", err)
	}

	// A record that trickles in after a request: cut off as a slow head,
	// not left to the idle timeout.
	trickle := dialTLSRaw(t, addr)
	trickle.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	trickle.read("GET")
	under := trickle.c.(*tls.Conn).NetConn()
	under.Write([]byte("\x17\x03\x03"))
	start = time.Now()
	under.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(under); err != nil {
		t.Errorf("a trickling record was not cut off: %v", err)
	} else if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a trickling record was cut after %v", d)
	}

	// The loop serves others as before.
	rc := dialTLSRaw(t, addr)
	rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "web.1" {
		t.Fatalf("after the bad clients: %d %q", resp.StatusCode, body)
	}
	if looped, _ := fr.LoopCounts(); looped < 2 {
		t.Errorf("looped %d", looped)
	}
}

// The HTTPS listener's --max-conns cap holds for connections in the loops
// and for those they hand over, and each frees its place when it closes.
func TestFrontCapsHTTPSConnections(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := appProxy(t, u)
	fr, addr := serveTLSFront(t, p, func(fr *Front) { fr.MaxConns, fr.Loop = 2, &LoopConfig{Proxy: p} })

	get := "GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n"
	post := "POST /body HTTP/1.1\r\nHost: app.localhost\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"
	a, b := dialTLSRaw(t, addr), dialTLSRaw(t, addr)
	a.send(get)
	a.read("GET")
	b.send(post) // handed to a goroutine
	b.read("POST")
	if looped, handed := fr.LoopCounts(); looped != 1 || handed != 1 {
		t.Fatalf("looped %d, handed over %d", looped, handed)
	}
	// A third connection waits in the backlog: its handshake is not answered.
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}})
	handshook := make(chan error, 1)
	go func() { handshook <- c.Handshake() }()
	select {
	case err := <-handshook:
		t.Fatalf("a third connection was served with MaxConns 2 (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	b.c.Close() // the handed-over one frees its place
	select {
	case err := <-handshook:
		if err != nil {
			t.Fatalf("the third connection, once one closed: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the third connection still waits after one closed")
	}
	rc := &rawConn{t: t, c: c, br: bufio.NewReader(c)}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	rc.send(get)
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || body != "web.1" {
		t.Fatalf("the third connection: %d %q", resp.StatusCode, body)
	}
	a.c.Close() // the looped one frees its place
	d := dialTLSRaw(t, addr)
	d.send(get)
	if resp, _ := d.read("GET"); resp.StatusCode != 200 {
		t.Fatalf("a fourth connection, once another closed: %d", resp.StatusCode)
	}
}

// Review tests: a client that never reads, and TLS 1.3 KeyUpdate requests
// written by hand (the client's traffic secret comes from KeyLogWriter).

// loopUnsent sums the bytes fr's loops hold for their clients.
func loopUnsent(fr *Front) int {
	g := fr.loops.Load()
	if g == nil {
		return 0
	}
	total := 0
	for _, l := range g.loops {
		done := make(chan int, 1)
		if !l.post(func() {
			n := 0
			for _, c := range l.conns {
				if !c.up {
					n += len(c.out)
					if c.tls != nil {
						n += len(c.tls.pipe.out)
					}
				}
			}
			done <- n
		}) {
			continue
		}
		select {
		case n := <-done:
			total += n
		case <-time.After(5 * time.Second):
		}
	}
	return total
}

// tls13Sender writes a TLS 1.3 client's application records itself.
type tls13Sender struct {
	hash   func() hash.Hash
	keyLen int
	secret []byte
	aead   cipher.AEAD
	iv     []byte
	seq    uint64
}

func expandLabel(h func() hash.Hash, secret []byte, label string, length int) []byte {
	info := []byte{byte(length >> 8), byte(length), byte(len("tls13 ") + len(label))}
	info = append(info, "tls13 "+label...)
	info = append(info, 0)
	out, err := hkdf.Expand(h, secret, string(info), length)
	if err != nil {
		panic(err)
	}
	return out
}

func (s *tls13Sender) setSecret(secret []byte) {
	s.secret = secret
	block, err := aes.NewCipher(expandLabel(s.hash, secret, "key", s.keyLen))
	if err != nil {
		panic(err)
	}
	s.aead, _ = cipher.NewGCM(block)
	s.iv = expandLabel(s.hash, secret, "iv", 12)
	s.seq = 0
}

func (s *tls13Sender) record(typ byte, data []byte) []byte {
	inner := append(append([]byte(nil), data...), typ)
	n := len(inner) + 16
	hdr := []byte{23, 3, 3, byte(n >> 8), byte(n)}
	nonce := append([]byte(nil), s.iv...)
	for i := 0; i < 8; i++ {
		nonce[4+i] ^= byte(s.seq >> (56 - 8*i))
	}
	s.seq++
	out := append(make([]byte, 0, 5+n), hdr...)
	return s.aead.Seal(out, nonce, inner, hdr)
}

func (s *tls13Sender) data(b string) []byte { return s.record(23, []byte(b)) }

// keyUpdate is a KeyUpdate asking for the server's, after which the
// client's records use the next secret.
func (s *tls13Sender) keyUpdate() []byte {
	r := s.record(22, []byte{24, 0, 0, 1, 1})
	s.setSecret(expandLabel(s.hash, s.secret, "traffic upd", len(s.secret)))
	return r
}

// dialTLS13Hand makes a TLS 1.3 handshake with addr and returns the raw
// socket, the tls.Conn to read answers with, and a sender for the
// client's records (the tls.Conn must not write after it).
func dialTLS13Hand(t *testing.T, addr string, rcvbuf int) (*net.TCPConn, *tls.Conn, *tls13Sender) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	raw := nc.(*net.TCPConn)
	if rcvbuf > 0 {
		raw.SetReadBuffer(rcvbuf)
	}
	t.Cleanup(func() { raw.Close() })
	var keys bytes.Buffer
	tc := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"http/1.1"},
		MinVersion: tls.VersionTLS13, KeyLogWriter: &keys})
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &tls13Sender{}
	switch cs := tc.ConnectionState().CipherSuite; cs {
	case tls.TLS_AES_128_GCM_SHA256:
		s.hash, s.keyLen = sha256.New, 16
	case tls.TLS_AES_256_GCM_SHA384:
		s.hash, s.keyLen = sha512.New384, 32
	default:
		t.Skipf("cipher suite %s", tls.CipherSuiteName(cs))
	}
	for _, line := range strings.Split(keys.String(), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "CLIENT_TRAFFIC_SECRET_0" {
			secret, err := hex.DecodeString(f[2])
			if err != nil {
				t.Fatal(err)
			}
			s.setSecret(secret)
		}
	}
	if s.aead == nil {
		t.Fatal("no client traffic secret in the key log")
	}
	return raw, tc, s
}

// A KeyUpdate from the client, alone, with a request behind it, and in the
// middle of a large answer: the server's own KeyUpdate comes between the
// records sealed before and after it, so the client reads every answer.
func TestHTTPSLoopKeyUpdateKeepsRecordsInOrder(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	p := bigUpstream(t, payload)
	fr, addr := serveTLSLoops(t, p, LoopConfig{})
	raw, tc, s := dialTLS13Hand(t, addr, 0)
	br := bufio.NewReader(tc)
	get := func(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: app.localhost\r\n\r\n" }
	read := func(what string, want []byte) {
		t.Helper()
		resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || !bytes.Equal(body, want) {
			t.Fatalf("%s: %d, %d bytes, %v", what, resp.StatusCode, len(body), err)
		}
	}
	raw.Write(s.data(get("/a")))
	read("before the KeyUpdate", []byte("/a"))
	raw.Write(append(s.keyUpdate(), s.data(get("/b"))...))
	read("after a KeyUpdate", []byte("/b"))
	raw.Write(s.data(get("/big")))
	time.Sleep(50 * time.Millisecond) // the answer is on its way, most of it unsent
	raw.Write(s.keyUpdate())
	raw.Write(append(s.keyUpdate(), s.data(get("/c"))...))
	read("the large answer a KeyUpdate came in the middle of", payload)
	read("after two more", []byte("/c"))
	if looped, handed := fr.LoopCounts(); looped != 4 || handed != 0 {
		t.Fatalf("looped %d, handed over %d", looped, handed)
	}
}

// A client pipelining requests and not reading its answers: the loop
// stops taking its requests once it owes it loopHighWater bytes, over
// HTTPS and plain HTTP alike (an instance was paused only in the middle of
// an answer, and the next request started whatever the client was owed,
// without bound), and goes on once the client reads.
func TestLoopBoundsAnswersForAClientThatDoesNotRead(t *testing.T) {
	page := strings.Repeat("p", 2000)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, page) // head and body in one write
	}))
	defer up.Close()
	p := New(Config{Domain: "localhost"})
	defer p.Close()
	p.SetRoutes([]Route{{App: "app", Hosts: []string{"app.localhost"},
		Upstreams: []Upstream{{Name: "web.1", Addr: up.Listener.Addr().String(), Slot: "blue"}}}})
	for _, secure := range []bool{true, false} {
		t.Run(map[bool]string{true: "https", false: "http"}[secure], func(t *testing.T) {
			var fr *Front
			var c net.Conn
			if secure {
				var addr string
				fr, addr = serveTLSLoops(t, p, LoopConfig{})
				c = dialTLSRaw(t, addr).c
			} else {
				var addr string
				fr, addr = serveFrontAs(t, p, func(fr *Front) { fr.Loop = &LoopConfig{Proxy: p} })
				c = dialRaw(t, addr).c
			}
			c.SetDeadline(time.Now().Add(30 * time.Second))
			const n = 5000 // 195 KB of requests, 12 MB of answers
			reqs := strings.Repeat("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n", n)
			sent := make(chan error, 1)
			go func() { _, err := io.WriteString(c, reqs); sent <- err }()
			most := 0
			for end := time.Now().Add(3 * time.Second); time.Now().Before(end) && most <= 4*loopHighWater; {
				time.Sleep(100 * time.Millisecond)
				most = max(most, loopUnsent(fr))
			}
			looped, _ := fr.LoopCounts()
			t.Logf("%d requests answered; the loops held up to %d bytes for the client", looped, most)
			if most > 4*loopHighWater {
				t.Fatalf("the loops held %d bytes for a client that does not read, more than %d", most, 4*loopHighWater)
			}
			br := bufio.NewReader(c)
			for i := range n {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("answer %d of %d once the client reads: %v", i+1, n, err)
				}
				if b, err := io.ReadAll(resp.Body); err != nil || len(b) != len(page) {
					t.Fatalf("answer %d: %d bytes, %v", i+1, len(b), err)
				}
			}
			if err := <-sent; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A handshake that ends while the front shuts down leaves its connection
// on its goroutine, which answers the request the client sent: a closing
// loop would drop it unanswered.
func TestHTTPSHandshakeDuringShutdownIsAnswered(t *testing.T) {
	u := newUpstream(t, "web.1")
	p := appProxy(t, u)
	fr, addr := serveTLSLoops(t, p, LoopConfig{})
	rc := dialTLSRaw(t, addr) // the loops start with the first connection
	rc.send("GET / HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	rc.read("GET")
	fr.loops.Load().shutdown() // as Front.Shutdown begins
	late := dialTLSRaw(t, addr)
	late.send("GET /late HTTP/1.1\r\nHost: app.localhost\r\n\r\n")
	if resp, body := late.read("GET"); resp.StatusCode != 200 || body != "web.1" {
		t.Fatalf("a connection made as the loops close: %d %q", resp.StatusCode, body)
	}
	if looped, _ := fr.LoopCounts(); looped != 1 {
		t.Errorf("looped %d, want the late request on a goroutine", looped)
	}
}
