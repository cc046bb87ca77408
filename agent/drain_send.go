package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"
)

// How a drain sends: a connect and a TLS handshake take at most
// drainDialTimeout, a write drainWriteTimeout; after a failure it waits
// from drainBackoffMin up to drainBackoffMax before trying again, dropping
// what its buffer cannot hold meanwhile.
const (
	drainDialTimeout  = 5 * time.Second
	drainWriteTimeout = 5 * time.Second
	drainBackoffMin   = time.Second
	drainBackoffMax   = 30 * time.Second
	// An HTTPS drain posts up to drainBatchLines lines at once, at least
	// every drainBatchWait while lines come.
	drainBatchLines = 500
	drainBatchWait  = time.Second
)

// dialer connects only where a webhook could: never the agent's API or a
// link-local (metadata) address.
func (w *drainWorker) dialer() *net.Dialer {
	return &net.Dialer{
		Timeout: drainDialTimeout,
		Control: func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			return w.m.guard.checkAddr(ap, false)
		},
	}
}

// sendSyslog sends lines as RFC 5424 messages, octet-counted (RFC 6587),
// over one TCP or TLS connection, reconnecting after a failure.
func (w *drainWorker) sendSyslog(ctx context.Context, useTLS bool) {
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := drainBackoffMin
	for {
		var line string
		select {
		case <-ctx.Done():
			return
		case line = <-w.buf:
		}
		msg, ok := syslogMessage(w.d.App, w.m.hostname, line)
		if !ok {
			continue
		}
		if conn == nil {
			c, err := w.dialSyslog(ctx, useTLS)
			if err != nil {
				w.fail(err)
				w.drop(1)
				if sleep(ctx, backoff) != nil {
					return
				}
				backoff = min(2*backoff, drainBackoffMax)
				continue
			}
			conn, backoff = c, drainBackoffMin
		}
		_ = conn.SetWriteDeadline(time.Now().Add(drainWriteTimeout))
		if _, err := io.WriteString(conn, octetFrame(msg)); err != nil {
			w.fail(fmt.Errorf("writing: %w", err))
			w.drop(1)
			conn.Close()
			conn = nil
			continue
		}
		w.sentLines(1)
	}
}

func (w *drainWorker) dialSyslog(ctx context.Context, useTLS bool) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, drainDialTimeout)
	defer cancel()
	if !useTLS {
		return w.dialer().DialContext(ctx, "tcp", w.target.Host)
	}
	cfg := w.m.tls.Clone()
	cfg.ServerName = w.target.Hostname()
	d := &tls.Dialer{NetDialer: w.dialer(), Config: cfg}
	return d.DialContext(ctx, "tcp", w.target.Host)
}

// sendHTTPS posts batches of octet-counted RFC 5424 messages, as
// Heroku's HTTPS drains do (Content-Type application/logplex-1). A batch
// that fails is dropped.
func (w *drainWorker) sendHTTPS(ctx context.Context) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: w.dialer().DialContext, TLSClientConfig: w.m.tls.Clone(),
			TLSHandshakeTimeout: drainDialTimeout, MaxIdleConnsPerHost: 1,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	var batch bytes.Buffer
	n := 0
	tick := time.NewTicker(drainBatchWait)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case line := <-w.buf:
			if msg, ok := syslogMessage(w.d.App, w.m.hostname, line); ok {
				batch.WriteString(octetFrame(msg))
				n++
			}
			if n < drainBatchLines {
				continue
			}
		case <-tick.C:
			if n == 0 {
				continue
			}
		}
		if err := w.post(ctx, client, batch.Bytes(), n); err != nil {
			w.fail(err)
			w.drop(n)
		} else {
			w.sentLines(n)
		}
		batch.Reset()
		n = 0
	}
}

func (w *drainWorker) post(ctx context.Context, client *http.Client, body []byte, n int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.target.String(), bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("the drain's URL does not make a request")
	}
	req.Header.Set("Content-Type", "application/logplex-1")
	req.Header.Set("Logplex-Msg-Count", strconv.Itoa(n))
	req.Header.Set("Logplex-Drain-Token", w.d.ID)
	req.Header.Set("User-Agent", "pier-drains")
	_, err = deliver(client, req, "the drain")
	return err
}
