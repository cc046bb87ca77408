package proxy

import "time"

// LoopConfig turns on Front's event loops for plain HTTP. They run on
// Linux only (loop_linux.go); elsewhere every connection gets a goroutine.
type LoopConfig struct {
	// Proxy is the proxy Front's handler passes requests to.
	Proxy *Proxy
	// Direct reports whether Front's handler hands a request for host and
	// path straight to Proxy (no redirect, no ACME challenge); nil means
	// it hands every request. The control host, which Front.Lean (Proxy.Lean)
	// keeps off the lean path, is Proxy.admit's to recognize.
	Direct func(host, path string) bool
	// Loops is the number of event loops; 0 means one per processor.
	Loops int

	// Tests shorten the limits against slow clients.
	headerTimeout, idleTimeout time.Duration
}
