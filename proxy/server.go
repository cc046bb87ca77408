package proxy

import (
	"net/http"
	"time"
)

// Server limits against slow or greedy clients.
const (
	ServerReadHeaderTimeout = 10 * time.Second
	ServerIdleTimeout       = 120 * time.Second
	ServerMaxHeaderBytes    = 64 << 10
)

// NewServer returns an http.Server for h on addr, hardened against slow
// clients: headers must arrive within 10 s, idle keep-alive connections
// close after 120 s and headers are capped at 64 KB. There is no write
// timeout, so server-sent events and long downloads are not cut; the
// request body is bounded by Config.MaxBodyBytes instead.
func NewServer(h http.Handler, addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ServerReadHeaderTimeout,
		IdleTimeout:       ServerIdleTimeout,
		MaxHeaderBytes:    ServerMaxHeaderBytes,
	}
}

// clientBodyTimeout is how long the proxy waits for the next part of a
// request body (a Proxy takes it when it is made: tests lower it).
var clientBodyTimeout = 60 * time.Second

// clientSendTimeout is how long the proxy waits for a client to take more
// of an answer (a Proxy takes it when it is made).
var clientSendTimeout = 60 * time.Second
