package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Webhook formats: how a delivery's body looks.
const (
	FormatGeneric = "generic" // WebhookPayload, the documented schema
	FormatSlack   = "slack"   // a Slack incoming-webhook message
	FormatDiscord = "discord" // a Discord webhook message
)

// WebhookFormats are the formats a webhook may have.
var WebhookFormats = []string{FormatGeneric, FormatSlack, FormatDiscord}

// Webhook sends an app's events (or, platform-wide, every app's and the
// platform's) to a URL. Its URL is a secret of its own (a Slack webhook URL
// is a credential): the agent keeps it sealed and shows only its scheme
// and host.
type Webhook struct {
	ID           string    `json:"id"`
	App          string    `json:"app,omitempty"` // "": platform-wide
	URL          string    `json:"url"`           // scheme://host/… only
	Events       []string  `json:"events,omitempty"`
	Format       string    `json:"format"`
	AllowPrivate bool      `json:"allow_private,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
	CreatedBy    string    `json:"created_by,omitempty"`
}

// WebhookRequest adds a webhook. Events are types or subjects ("deploy",
// "rollback.automatic"); none means every event. Secret signs the
// deliveries; empty has the agent generate one, shown once in the answer.
type WebhookRequest struct {
	URL          string   `json:"url"`
	Events       []string `json:"events,omitempty"`
	Secret       string   `json:"secret,omitempty"`
	Format       string   `json:"format,omitempty"`
	AllowPrivate bool     `json:"allow_private,omitempty"`
}

// WebhookCreated answers the addition of a webhook: the secret that signs
// its deliveries is in it this once.
type WebhookCreated struct {
	Webhook
	Secret string `json:"secret"`
}

// Delivery states.
const (
	DeliveryPending   = "pending"   // not yet accepted; tried again at NextAt
	DeliveryDelivered = "delivered" // the receiver answered 2xx
	DeliveryFailed    = "failed"    // given up after retrying for hours
)

// Delivery is one event on its way to one webhook, from the agent's
// outbox.
type Delivery struct {
	// ID is the idempotency id, the same on every attempt: the
	// Pier-Delivery-Id header and the payload's id.
	ID            string    `json:"id"`
	WebhookID     string    `json:"webhook_id"`
	Event         Event     `json:"event"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	CreatedAt     time.Time `json:"created_at"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	NextAt        time.Time `json:"next_at,omitzero"`
	LastCode      int       `json:"last_code,omitempty"` // the receiver's last HTTP status
	LastError     string    `json:"last_error,omitempty"`
}

// WebhookPayload is the body of a generic delivery, the schema
// docs/notifications.md documents.
type WebhookPayload struct {
	ID        string    `json:"id"` // the delivery's idempotency id
	WebhookID string    `json:"webhook_id"`
	CreatedAt time.Time `json:"created_at"` // when the event was queued for this webhook
	Event     Event     `json:"event"`
}

// DeliveryResult is what one attempt got: a test's answer.
type DeliveryResult struct {
	Code     int      `json:"code,omitempty"`
	Error    string   `json:"error,omitempty"`
	Duration Duration `json:"duration"`
}

func webhooksPath(app string) string {
	if app == "" {
		return "/v1/webhooks"
	}
	return "/v1/apps/" + url.PathEscape(app) + "/webhooks"
}

// AddWebhook adds a webhook of app ("": platform-wide).
func (c *Client) AddWebhook(ctx context.Context, app string, req WebhookRequest) (WebhookCreated, error) {
	var out WebhookCreated
	err := c.do(ctx, http.MethodPost, webhooksPath(app), req, &out)
	return out, err
}

// Webhooks lists app's webhooks ("": the platform-wide ones).
func (c *Client) Webhooks(ctx context.Context, app string) ([]Webhook, error) {
	var out []Webhook
	err := c.do(ctx, http.MethodGet, webhooksPath(app), nil, &out)
	return out, err
}

// RemoveWebhook removes a webhook and its undelivered deliveries.
func (c *Client) RemoveWebhook(ctx context.Context, app, id string) error {
	return c.do(ctx, http.MethodDelete, webhooksPath(app)+"/"+url.PathEscape(id), nil, nil)
}

// Deliveries lists a webhook's last deliveries, newest last.
func (c *Client) Deliveries(ctx context.Context, app, id string, limit int) ([]Delivery, error) {
	var out []Delivery
	q := ""
	if limit > 0 {
		q = "?limit=" + strconv.Itoa(limit)
	}
	err := c.do(ctx, http.MethodGet, webhooksPath(app)+"/"+url.PathEscape(id)+"/deliveries"+q, nil, &out)
	return out, err
}

// TestWebhook sends a webhook.test event to a webhook at once and returns
// what the receiver answered.
func (c *Client) TestWebhook(ctx context.Context, app, id string) (DeliveryResult, error) {
	var out DeliveryResult
	err := c.do(ctx, http.MethodPost, webhooksPath(app)+"/"+url.PathEscape(id)+"/test", nil, &out)
	return out, err
}
