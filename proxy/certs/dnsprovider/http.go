package dnsprovider

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// newTransport is the HTTP transport of a DNS API: every step bounded.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: callTimeout,
		IdleConnTimeout:       90 * time.Second,
	}
}

// exchange sends req and reads its answer's status and body (at most 8
// MB); api names the service in errors.
func exchange(client *http.Client, req *http.Request, api string) (int, []byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", api, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s: reading its answer: %w", api, err)
	}
	return resp.StatusCode, b, nil
}
