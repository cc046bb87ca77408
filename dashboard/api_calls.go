package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// apiTimeout bounds each call a page makes to the API.
const apiTimeout = 30 * time.Second

// maxAnswer bounds what one API answer may hold in memory (logs pages).
const maxAnswer = 4 << 20

type clientIPKey struct{}

// inProcess is a RoundTripper that serves a request with the agent's API
// handler in this process: no socket, the same checks. The request counts
// as the browser's for the API's guard and audit log.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if ip, ok := req.Context().Value(clientIPKey{}).(string); ok && ip != "" {
		in.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, in)
	return rec.Result(), nil
}

// client is the API client of a session: its token, through the API
// handler in-process.
func (d *Dashboard) client(s *session) *api.Client {
	c := api.NewClient("http://pier.internal", s.token)
	c.HTTP = &http.Client{Transport: inProcess{d.opts.API}, Timeout: apiTimeout}
	return c
}

// apiGetText calls GET path (with query q) with the session's token and
// returns the answer's body, for the answers api.Client streams (logs).
func (d *Dashboard) apiGetText(ctx context.Context, s *session, path string, q url.Values) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, apiTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://pier.internal"+path+"?"+q.Encode(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := inProcess{d.opts.API}.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode >= 300 {
		msg := strings.TrimSpace(string(b))
		var e struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &e) == nil && e.Message != "" {
			msg = e.Message
		}
		return "", &api.StatusError{Code: resp.StatusCode, Message: msg}
	}
	return string(bytes.ToValidUTF8(b, []byte("?"))), nil
}
