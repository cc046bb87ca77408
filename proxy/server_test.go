package proxy

import (
	"net/http"
	"testing"
	"time"
)

func TestNewServerIsHardened(t *testing.T) {
	s := NewServer(http.NotFoundHandler(), "127.0.0.1:0")
	if s.ReadHeaderTimeout != 10*time.Second || s.IdleTimeout != 120*time.Second || s.MaxHeaderBytes != 64<<10 {
		t.Errorf("limits: %+v", s)
	}
	if s.WriteTimeout != 0 {
		t.Error("a write timeout would cut server-sent events")
	}
}
