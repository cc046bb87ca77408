package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// Sentry releases for apps: when an app's config has SENTRY_AUTH_TOKEN,
// SENTRY_ORG and SENTRY_PROJECT, each release that goes live (a deploy, a
// rollback, an automatic rollback) is told to Sentry through its API: the
// release (named as the app's processes see SENTRY_RELEASE: the commit,
// unless the app sets its own) is created
// for the project, and a deploy of it recorded for the environment
// (SENTRY_ENVIRONMENT, default production). SENTRY_URL points at a
// self-hosted Sentry (default https://sentry.io). It runs beside deploys,
// never in them: a Sentry that is down costs a log line.

// sentryQueue bounds the releases waiting to be told.
const sentryQueue = 100

type sentryReleases struct {
	store  *store.Store
	client *http.Client // the webhooks' guarded client: not the agent's API, not metadata
	logf   func(format string, args ...any)
	queue  chan api.Event
}

func newSentryReleases(st *store.Store, g webhookGuard, logf func(string, ...any)) *sentryReleases {
	return &sentryReleases{store: st, client: g.client(false), logf: logf, queue: make(chan api.Event, sentryQueue)}
}

// observe takes an event without waiting.
func (s *sentryReleases) observe(e api.Event) {
	if e.Type != api.EventDeploySucceeded && e.Type != api.EventRollbackAutomatic {
		return
	}
	select {
	case s.queue <- e:
	default:
		s.logf("telling Sentry of %s of %s: too many waiting, skipped", e.Type, e.App)
	}
}

func (s *sentryReleases) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e := <-s.queue:
			if err := s.tell(ctx, e); err != nil && ctx.Err() == nil {
				s.logf("telling Sentry of %s of %s: %v", e.Type, e.App, err)
			}
		}
	}
}

// tell creates the live release in Sentry and records its deploy.
func (s *sentryReleases) tell(ctx context.Context, e api.Event) error {
	live := e.Data["release"]
	if e.Type == api.EventRollbackAutomatic {
		live = e.Data["to"]
	}
	version, err := strconv.Atoi(strings.TrimPrefix(live, "v"))
	if err != nil {
		return nil
	}
	vars, err := s.store.ReleaseConfig(e.App, version)
	if err != nil {
		return err
	}
	token, org, project := vars["SENTRY_AUTH_TOKEN"], vars["SENTRY_ORG"], vars["SENTRY_PROJECT"]
	if token == "" || org == "" || project == "" {
		return nil
	}
	rel, err := s.store.GetRelease(e.App, version)
	if err != nil {
		return err
	}
	name := vars["SENTRY_RELEASE"] // what the app's SDK reports, as releaseEnv gives it
	if name == "" {
		name = rel.Commit
	}
	if name == "" {
		name = e.App + "@" + live
	}
	base := strings.TrimSuffix(vars["SENTRY_URL"], "/")
	if base == "" {
		base = "https://sentry.io"
	}
	env := vars["SENTRY_ENVIRONMENT"]
	if env == "" {
		env = "production"
	}
	releases := base + "/api/0/organizations/" + url.PathEscape(org) + "/releases/"
	if err := s.post(ctx, token, releases, map[string]any{"version": name, "projects": []string{project}}); err != nil {
		return fmt.Errorf("creating release %s: %w", name, err)
	}
	deploy := map[string]any{"environment": env, "name": live}
	if err := s.post(ctx, token, releases+url.PathEscape(name)+"/deploys/", deploy); err != nil {
		return fmt.Errorf("recording the deploy of %s: %w", name, err)
	}
	return nil
}

func (s *sentryReleases) post(ctx context.Context, token, to string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, to, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("SENTRY_URL does not make a request")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	// 208, the release exists already (a rollback to it), is a 2xx.
	_, err = deliver(s.client, req, "Sentry")
	return err
}
