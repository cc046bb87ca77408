package agent

import (
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/getsentry/sentry-go"
)

// The agent's own errors go to Sentry when --sentry-dsn (PIER_SENTRY_DSN)
// is set: panics of its goroutines that serve the API and the run loop,
// and every API request that ended in an internal error. The release is
// "pier@<version>". Request bodies, headers and tokens are never sent:
// only the error, its stack and the route.

// sentryReporter reports to one Sentry project; a nil one reports nothing.
type sentryReporter struct {
	hub *sentry.Hub
}

func newSentryReporter(cfg Config) (*sentryReporter, error) {
	if cfg.SentryDSN == "" {
		return nil, nil
	}
	host, _ := os.Hostname()
	client, err := sentry.NewClient(sentry.ClientOptions{
		Dsn:              cfg.SentryDSN,
		Release:          "pier@" + cfg.Version,
		ServerName:       host,
		AttachStacktrace: true,
		SendDefaultPII:   false,
		HTTPClient:       &http.Client{Timeout: 10 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("--sentry-dsn: %w", err)
	}
	return &sentryReporter{hub: sentry.NewHub(client, sentry.NewScope())}, nil
}

// error reports an unexpected error at where (an API route, a part).
func (s *sentryReporter) error(where string, err error) {
	if s == nil || err == nil {
		return
	}
	s.hub.WithScope(func(sc *sentry.Scope) {
		sc.SetTag("where", where)
		s.hub.CaptureException(err)
	})
}

// recovered reports a panic's value; the caller panics on with it.
func (s *sentryReporter) recovered(where string, v any) {
	if s == nil {
		return
	}
	s.hub.WithScope(func(sc *sentry.Scope) {
		sc.SetTag("where", where)
		s.hub.Recover(v)
	})
	s.hub.Flush(5 * time.Second)
}

// flush waits (a little) for what is queued to be sent.
func (s *sentryReporter) flush() {
	if s != nil {
		s.hub.Flush(5 * time.Second)
	}
}
