//go:build !linux

package proxy

import (
	"crypto/tls"
	"errors"
	"net"
)

// Elsewhere than on Linux there are no event loops: Front gives every
// connection a goroutine.

type loopGroup struct{}

func newLoopGroup(*Front, *LoopConfig) (*loopGroup, error) {
	return nil, errors.New("event loops run on Linux only")
}

func (*loopGroup) add(*net.TCPConn, func()) bool   { return false }
func (*loopGroup) addTLS(*tls.Conn, *tlsPipe) bool { return false }
func (*loopGroup) addH2(*tls.Conn, *tlsPipe) bool  { return false }
func (*loopGroup) shutdown()                       {}
func (*loopGroup) closeAll()                       {}
