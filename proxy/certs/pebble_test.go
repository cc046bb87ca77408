package certs

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pierhq/pier/proxy/certs/pebbletest"
)

// unreachablePrefix marks names Pebble cannot validate.
const unreachablePrefix = pebbletest.UnreachablePrefix

func startPebble(t *testing.T, httpPort, tlsPort int, validity time.Duration) *pebbletest.Server {
	t.Helper()
	return pebbletest.Start(t, httpPort, tlsPort, validity)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// edge is a plain and an HTTPS listener on 127.0.0.1 in front of whichever
// Manager is current, the way pier's proxy uses one.
type edge struct {
	HTTPPort, HTTPSPort int
	mgr                 atomic.Pointer[Manager]
}

// backendBody is what the app behind the edge answers.
const backendBody = "hello from the app"

func startEdge(t *testing.T) *edge {
	t.Helper()
	e := &edge{}
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, backendBody)
	})
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.HTTPPort = plainLn.Addr().(*net.TCPAddr).Port
	e.HTTPSPort = tlsLn.Addr().(*net.TCPAddr).Port
	plain := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mgr.Load().HTTPHandler(app).ServeHTTP(w, r)
	})}
	secure := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: app, TLSConfig: &tls.Config{
		NextProtos: []string{"h2", "http/1.1", "acme-tls/1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return e.mgr.Load().TLSConfig(), nil
		},
	}, ErrorLog: discardLog()}
	go func() { _ = plain.Serve(plainLn) }()
	go func() { _ = secure.ServeTLS(tlsLn, "", "") }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = plain.Shutdown(ctx)
		_ = secure.Shutdown(ctx)
	})
	return e
}
