package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// Defaults of a HealthCheck's zero fields.
const (
	DefaultHealthPath     = "/"
	DefaultHealthTimeout  = 5 * time.Second
	DefaultHealthInterval = time.Second
)

// healthClient makes a fresh connection for every check, so a check also
// proves that the instance still accepts connections.
var healthClient = &http.Client{
	Transport: &http.Transport{
		DialContext:       (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		DisableKeepAlives: true,
		Proxy:             nil,
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// maxHealthBody bounds how much of a check's answer is searched for Content.
const maxHealthBody = 1 << 20

// CheckHealth runs one check of the instance at addr: a GET of hc.Path that
// must answer below 500 (and contain hc.Content when set) within hc.Timeout.
// The error says what went wrong, "127.0.0.1:5000: GET /healthz answered
// 503"; callers prefix the instance name ("web.1 at ...").
func CheckHealth(ctx context.Context, addr string, hc HealthCheck) error {
	path := hc.Path
	if path == "" {
		path = DefaultHealthPath
	}
	if path[0] != '/' {
		path = "/" + path
	}
	timeout := hc.Timeout
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return fmt.Errorf("%s: bad health check path %q: %w", addr, path, err)
	}
	req.Header.Set("User-Agent", "pier-health-check")
	resp, err := healthClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("%s: GET %s did not answer within %s", addr, path, timeout)
		}
		return fmt.Errorf("%s: GET %s: %w", addr, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%s: GET %s answered %d", addr, path, resp.StatusCode)
	}
	if hc.Content == "" {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHealthBody))
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	if err != nil {
		return fmt.Errorf("%s: reading the answer to GET %s: %w", addr, path, err)
	}
	if !bytes.Contains(body, []byte(hc.Content)) {
		return fmt.Errorf("%s: GET %s answered %d without %q in its body", addr, path, resp.StatusCode, hc.Content)
	}
	return nil
}

// startChecks runs active checks of b until b.stop or Close, and closes
// its pooled connections once they have been idle too long; p.mu is held.
func (p *Proxy) startChecks(b *backend) {
	ctx, cancel := context.WithCancel(p.ctx)
	b.cancel = cancel
	interval := b.hc.Interval
	if interval <= 0 {
		interval = DefaultHealthInterval
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			b.pool.closeIdle(time.Now().Add(-idleConnTimeout))
			err := CheckHealth(ctx, b.up.Addr, b.hc)
			if ctx.Err() != nil {
				return
			}
			p.setHealth(b, err)
		}
	}()
}

// setHealth records a check's outcome and logs changes.
func (p *Proxy) setHealth(b *backend, err error) {
	was := b.healthy.Swap(err == nil)
	switch {
	case err != nil && was:
		p.cfg.Logf("proxy: %s %s left rotation: %v", b.stats.app, b.up.Name, err)
	case err == nil && !was:
		p.cfg.Logf("proxy: %s %s is back in rotation", b.stats.app, b.up.Name)
	}
}

// eject takes b out of rotation after a failed connection; the active
// checks bring it back once it answers again.
func (p *Proxy) eject(b *backend, err error) {
	if b.healthy.Swap(false) {
		p.cfg.Logf("proxy: %s %s left rotation: connecting to %s failed: %v", b.stats.app, b.up.Name, b.up.Addr, err)
	}
}
