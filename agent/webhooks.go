package agent

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pierhq/pier/agent/store"
	"github.com/pierhq/pier/api"
)

// The webhooks API: an app's webhooks under /v1/apps/{app}/webhooks, the
// platform-wide ones (every app's events and the platform's) under
// /v1/webhooks. The path's {app}, or none, picks which.

// webhookApp is the app of the path, checked to exist; "" for the
// platform-wide routes.
func (a *Agent) webhookApp(r *http.Request) (string, error) {
	if r.PathValue("app") == "" {
		return "", nil
	}
	app, err := a.appOf(r)
	return app.Name, err
}

func (a *Agent) listWebhooks(w http.ResponseWriter, r *http.Request) error {
	app, err := a.webhookApp(r)
	if err != nil {
		return err
	}
	hooks, err := a.store.Webhooks(app)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hooks)
	return nil
}

// maxWebhooks caps an app's (or the platform's) webhooks: each one is an
// outbox the sender walks.
const maxWebhooks = 20

func (a *Agent) addWebhook(w http.ResponseWriter, r *http.Request) error {
	app, err := a.webhookApp(r)
	if err != nil {
		return err
	}
	var req api.WebhookRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if p := principalOf(r); req.AllowPrivate && (p == nil || p.Role != api.RoleAdmin) {
		return forbiddenf("--allow-private lets a webhook reach this host's services and the private network: it needs an admin token (or an agent run with --allow-private-targets)")
	}
	u, err := a.webhookGuard().checkURL(r.Context(), "webhook", req.URL, req.AllowPrivate)
	if err != nil {
		return err
	}
	if req.Format == "" {
		req.Format = api.FormatGeneric
	}
	if !slices.Contains(api.WebhookFormats, req.Format) {
		return invalidf("format %q: give one of %s", req.Format, strings.Join(api.WebhookFormats, ", "))
	}
	events := []string{}
	for _, e := range req.Events {
		e = strings.TrimSpace(e)
		if e == "" || e == "*" || e == "all" {
			events = nil
			break
		}
		if !api.KnownEventFilter(e) {
			return invalidf("event %q: give event types or subjects from docs/notifications.md, such as deploy, rollback, build.failed", e)
		}
		events = append(events, e)
	}
	if len(req.Secret) > 0 && len(req.Secret) < 16 {
		return invalidf("secret must be at least 16 characters (or leave it out to have one generated)")
	}
	if hooks, err := a.store.Webhooks(app); err != nil {
		return err
	} else if len(hooks) >= maxWebhooks {
		return conflictf("%d webhooks already: remove one first", len(hooks))
	}
	secret := req.Secret
	if secret == "" {
		secret = "whsec_" + randomHex(24)
	}
	hook := api.Webhook{
		ID: "wh_" + randomHex(8), App: app, URL: u.Scheme + "://" + u.Host + "/…",
		Events: events, Format: req.Format, AllowPrivate: req.AllowPrivate,
		CreatedAt: time.Now().UTC(), CreatedBy: userOf(r),
	}
	if err := a.store.AddWebhook(hook, store.WebhookTarget{URL: u.String(), Secret: secret}); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.WebhookCreated{Webhook: hook, Secret: secret})
	return nil
}

func (a *Agent) removeWebhook(w http.ResponseWriter, r *http.Request) error {
	app, err := a.webhookApp(r)
	if err != nil {
		return err
	}
	if err := a.store.RemoveWebhook(app, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	app, err := a.webhookApp(r)
	if err != nil {
		return err
	}
	limit := 50
	if s := r.URL.Query().Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return invalidf("limit=%q: give a whole number", s)
		}
		limit = n
	}
	ds, err := a.store.Deliveries(app, r.PathValue("id"), limit)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ds)
	return nil
}

// testWebhook sends a webhook.test event to the webhook at once, outside
// the outbox, and answers with what the receiver did.
func (a *Agent) testWebhook(w http.ResponseWriter, r *http.Request) error {
	app, err := a.webhookApp(r)
	if err != nil {
		return err
	}
	hook, target, err := a.store.Webhook(app, r.PathValue("id"))
	if err != nil {
		return err
	}
	ev := api.Event{
		Type: api.EventWebhookTest, Time: time.Now().UTC(), App: app, Actor: userOf(r),
		Message: "A test of webhook " + hook.ID + ": it works",
	}
	d := api.Delivery{ID: hook.ID + "-test-" + randomHex(4), WebhookID: hook.ID, Event: ev, CreatedAt: ev.Time}
	writeJSON(w, http.StatusOK, a.webhooks.send(r.Context(), hook, target, d))
	return nil
}

// webhookGuard is where this agent lets deliveries go.
func (a *Agent) webhookGuard() webhookGuard {
	return a.webhooks.guard
}
