//go:build !linux

package proxy

import (
	"errors"
	"net"
)

// LoopConfig turns on Front's event loops for plain HTTP; they run on
// Linux only; elsewhere every connection gets a goroutine.
type LoopConfig struct {
	Proxy  *Proxy
	Direct func(host, path string) bool
	Loops  int
}

type loopGroup struct{}

func newLoopGroup(*Front, *LoopConfig) (*loopGroup, error) {
	return nil, errors.New("event loops run on Linux only")
}

func (*loopGroup) add(*net.TCPConn, func()) bool { return false }
func (*loopGroup) shutdown()                     {}
func (*loopGroup) closeAll()                     {}
