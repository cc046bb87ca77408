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
	"sync"
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
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, serverRequest(req))
	return rec.Result(), nil
}

// serverRequest is req as the API handler gets it.
func serverRequest(req *http.Request) *http.Request {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "127.0.0.1:0"
	if ip, ok := req.Context().Value(clientIPKey{}).(string); ok && ip != "" {
		in.RemoteAddr = net.JoinHostPort(ip, "0")
	}
	if in.Body == nil {
		in.Body = http.NoBody
	}
	return in
}

// inProcessStream is inProcess for answers read as they are written (the
// live deploy view): the handler writes into a pipe from a goroutine of
// its own, which ends when the handler returns. The handler returns when
// the request's context ends or when its writes fail because the answer's
// body was closed.
type inProcessStream struct{ h http.Handler }

func (t inProcessStream) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	w := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		t.h.ServeHTTP(w, serverRequest(req))
		w.WriteHeader(http.StatusOK)
		pw.Close()
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.Close()
		return nil, req.Context().Err()
	}
	return &http.Response{Status: http.StatusText(w.code), StatusCode: w.code, Header: w.sent, Body: pr,
		Request: req, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, ContentLength: -1}, nil
}

// pipeWriter is the ResponseWriter of an inProcessStream call.
type pipeWriter struct {
	header http.Header
	sent   http.Header // the header as it was when the answer began
	code   int
	once   sync.Once
	ready  chan struct{} // closed when the answer began
	pw     *io.PipeWriter
}

func (p *pipeWriter) Header() http.Header { return p.header }

func (p *pipeWriter) WriteHeader(code int) {
	p.once.Do(func() {
		p.code, p.sent = code, p.header.Clone()
		close(p.ready)
	})
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}

// Flush does nothing: every write reaches the reader at once.
func (p *pipeWriter) Flush() {}

// client is the API client of a session: its token, through the API
// handler in-process.
func (d *Dashboard) client(s *session) *api.Client {
	c := api.NewClient("http://pier.internal", s.token)
	c.HTTP = &http.Client{Transport: inProcess{d.opts.API}, Timeout: apiTimeout}
	return c
}

// streamClient is client for calls whose answers are read as they come.
func (d *Dashboard) streamClient(s *session) *api.Client {
	c := api.NewClient("http://pier.internal", s.token)
	c.HTTP = &http.Client{Transport: inProcessStream{d.opts.API}} // FollowDeploy: no timeout but its context's
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
