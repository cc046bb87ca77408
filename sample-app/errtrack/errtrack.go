// Package errtrack reports the app's errors to Sentry (or any service that
// takes Sentry's envelopes, such as GlitchTip), tagged with the release the
// platform runs: SENTRY_RELEASE, which pier sets to the release's commit
// (Heroku users set it, or it falls back to SOURCE_VERSION). It is a few
// lines of the standard library, as the rest of the app, rather than the
// Sentry SDK: a report is one HTTP POST of an envelope.
package errtrack

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Reporter sends error events to one Sentry project. A nil Reporter
// (SENTRY_DSN unset) reports nothing.
type Reporter struct {
	endpoint, auth string
	release, env   string
	serverName     string
	client         *http.Client
}

// New reads SENTRY_DSN, SENTRY_RELEASE (else SOURCE_VERSION),
// SENTRY_ENVIRONMENT (default production) and DYNO through getenv. It
// returns nil, nil when SENTRY_DSN is unset.
func New(getenv func(string) string) (*Reporter, error) {
	dsn := getenv("SENTRY_DSN")
	if dsn == "" {
		return nil, nil
	}
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil || u.User.Username() == "" || u.Host == "" {
		return nil, fmt.Errorf("SENTRY_DSN: want https://KEY@HOST/PROJECT, as Sentry shows it")
	}
	project := strings.Trim(u.Path, "/")
	if i := strings.LastIndex(project, "/"); i >= 0 { // a DSN with a path prefix
		u.Path, project = "/"+project[:i], project[i+1:]
	} else {
		u.Path = ""
	}
	if project == "" {
		return nil, fmt.Errorf("SENTRY_DSN has no project id: want https://KEY@HOST/PROJECT")
	}
	release := getenv("SENTRY_RELEASE")
	if release == "" {
		release = getenv("SOURCE_VERSION")
	}
	env := getenv("SENTRY_ENVIRONMENT")
	if env == "" {
		env = "production"
	}
	return &Reporter{
		endpoint:   u.Scheme + "://" + u.Host + u.Path + "/api/" + project + "/envelope/",
		auth:       "Sentry sentry_version=7, sentry_client=text-lens/1.0, sentry_key=" + u.User.Username(),
		release:    release,
		env:        env,
		serverName: getenv("DYNO"),
		client:     &http.Client{Timeout: 5 * time.Second},
	}, nil
}

// Release is the release reports carry.
func (r *Reporter) Release() string {
	if r == nil {
		return ""
	}
	return r.release
}

// Report sends err with tags (say, the request's path and id). It waits for
// the answer at most 5 seconds and returns what went wrong sending it.
func (r *Reporter) Report(ctx context.Context, err error, tags map[string]string) error {
	if r == nil || err == nil {
		return nil
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	eventID := hex.EncodeToString(id)
	now := time.Now().UTC()
	event := map[string]any{
		"event_id": eventID, "timestamp": now.Format(time.RFC3339Nano), "platform": "go", "level": "error",
		"release": r.release, "environment": r.env, "server_name": r.serverName, "tags": tags,
		"exception": map[string]any{"values": []map[string]any{{"type": fmt.Sprintf("%T", err), "value": err.Error()}}},
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body) // one JSON document per line: the envelope's format
	_ = enc.Encode(map[string]any{"event_id": eventID, "sent_at": now.Format(time.RFC3339Nano)})
	_ = enc.Encode(map[string]any{"type": "event"})
	_ = enc.Encode(event)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.endpoint, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-sentry-envelope")
	req.Header.Set("X-Sentry-Auth", r.auth)
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("reporting to Sentry: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("reporting to Sentry: %s", resp.Status)
	}
	return nil
}
