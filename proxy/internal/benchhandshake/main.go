// Command benchhandshake measures how many new TLS connections per second
// a server takes: each connection does a handshake, sends one GET (so the
// session tickets a TLS 1.3 server sends after its handshake are read, as
// a browser's first request reads them), reads the answer and closes the
// connection itself (so the closed connections wait out TIME_WAIT on the
// client's side, where the kernel reuses their ports, and no dial meets a
// server port still waiting). With -resume every worker keeps a session
// cache, so after its first connection the handshakes resume a session
// (a ticket) instead of a full handshake with the certificate's signature.
// It prints "CONNS_PER_S RESUMED_FRACTION CONNECTIONS FAILED". The certificate
// is not verified: the server's cost is measured, not the client's.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	addr := flag.String("addr", "", "address to connect to (host:port)")
	sni := flag.String("sni", "", "server name sent, also the request's Host")
	conns := flag.Int("c", 16, "connections at once")
	dur := flag.Duration("d", 10*time.Second, "how long to run")
	resume := flag.Bool("resume", false, "resume sessions with tickets")
	x25519 := flag.Bool("x25519", false, "offer the X25519 key exchange alone, as OpenSSL 3.0 clients do, instead of Go's default (and today's browsers'), the X25519MLKEM768 hybrid first")
	flag.Parse()
	if *addr == "" || *sni == "" {
		log.Fatal("benchhandshake: give -addr HOST:PORT and -sni NAME")
	}
	end := time.Now().Add(*dur)
	ctx, cancel := context.WithDeadline(context.Background(), end)
	defer cancel()
	var done, resumed, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := &tls.Config{ServerName: *sni, InsecureSkipVerify: true, NextProtos: []string{"http/1.1"}}
			if *x25519 {
				cfg.CurvePreferences = []tls.CurveID{tls.X25519}
			}
			if *resume {
				cfg.ClientSessionCache = tls.NewLRUClientSessionCache(1)
			}
			for ctx.Err() == nil {
				didResume, err := connect(ctx, *addr, *sni, cfg)
				if err != nil {
					// A dial the run's end cut short is no failure: its
					// deadline passes a moment before ctx says so.
					if ctx.Err() == nil && time.Until(end) > 10*time.Millisecond {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				done.Add(1)
				if didResume {
					resumed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if n := failed.Load(); n > 0 {
		log.Printf("benchhandshake: %d connections failed, the first: %v", n, firstErr.Load())
	}
	n := done.Load()
	frac := 0.0
	if n > 0 {
		frac = float64(resumed.Load()) / float64(n)
	}
	fmt.Printf("%.0f %.3f %d %d\n", float64(n)/secs, frac, n, failed.Load())
}

// connect makes one connection, one request and reads its answer.
func connect(ctx context.Context, addr, host string, cfg *tls.Config) (bool, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return false, err
	}
	defer c.Close()
	tc := c.(*tls.Conn)
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(tc, "GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		return false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		return false, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return tc.ConnectionState().DidResume, err
}
