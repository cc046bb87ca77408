package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// smokeCheck requests path of an app and wants a 2xx answer whose body
// holds text: a 200 with an error page fails.
type smokeCheck struct {
	path, text string
	base       string // the first app's base URL, "" for its web URL
}

// smokeClient follows no redirect (a redirect to a login page is no
// pass) and, as browsers do (RFC 6761), dials loopback for *.localhost,
// pier's domain on a laptop.
var smokeClient = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
	Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err == nil && (host == "localhost" || strings.HasSuffix(host, ".localhost")) {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
	},
}

// wait retries the check every two seconds for up to d while it fails
// the way a release still coming up (or DNS still settling) does: no
// connection, 502, 503 or 504. A wrong answer fails at once.
func (s smokeCheck) wait(ctx context.Context, base string, d time.Duration) error {
	end := time.Now().Add(d)
	for {
		err := s.once(ctx, base)
		var te *transientError
		if err == nil || !errors.As(err, &te) || !time.Now().Before(end) || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(2 * time.Second):
		}
	}
}

// once runs the check one time.
func (s smokeCheck) once(ctx context.Context, base string) error {
	u := strings.TrimRight(base, "/") + "/" + strings.TrimLeft(s.path, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("bad smoke URL %q: %w", u, err)
	}
	resp, err := smokeClient.Do(req)
	if err != nil {
		return &transientError{fmt.Errorf("GET %s: %w", u, err)}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("GET %s: reading the answer: %w", u, err)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &transientError{fmt.Errorf("GET %s answered %d: %s", u, resp.StatusCode, excerpt(body))}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s answered %d: %s", u, resp.StatusCode, excerpt(body))
	}
	if s.text != "" && !strings.Contains(string(body), s.text) {
		return fmt.Errorf("GET %s answered %d without %q: %s", u, resp.StatusCode, s.text, excerpt(body))
	}
	return nil
}

// excerpt is the start of an answer, on one line.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// transientError is a failed check that may pass when tried again.
type transientError struct{ err error }

func (e *transientError) Error() string { return e.err.Error() }
func (e *transientError) Unwrap() error { return e.err }
