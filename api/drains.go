package api

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Drain sends an app's log lines (app, router and platform) to a syslog
// server over TCP or TLS, or in batches to an HTTPS endpoint, as Heroku's
// log drains do. Its URL may hold a credential: the agent keeps it sealed
// and shows only its scheme and host.
type Drain struct {
	ID        string    `json:"id"`
	App       string    `json:"app"`
	URL       string    `json:"url"` // scheme://host[:port] only
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by,omitempty"`
	// Sent and Dropped count lines since the agent started: dropped when
	// the drain was too slow or down and its buffer full.
	Sent      uint64 `json:"sent"`
	Dropped   uint64 `json:"dropped"`
	LastError string `json:"last_error,omitempty"`
}

// DrainRequest adds a drain: syslog://HOST:PORT, syslog+tls://HOST:PORT or
// https://HOST/PATH.
type DrainRequest struct {
	URL string `json:"url"`
}

func drainsPath(app string) string { return "/v1/apps/" + url.PathEscape(app) + "/drains" }

// AddDrain adds a log drain to app.
func (c *Client) AddDrain(ctx context.Context, app string, req DrainRequest) (Drain, error) {
	var d Drain
	err := c.do(ctx, http.MethodPost, drainsPath(app), req, &d)
	return d, err
}

// Drains lists app's log drains.
func (c *Client) Drains(ctx context.Context, app string) ([]Drain, error) {
	var ds []Drain
	err := c.do(ctx, http.MethodGet, drainsPath(app), nil, &ds)
	return ds, err
}

// RemoveDrain removes a log drain of app.
func (c *Client) RemoveDrain(ctx context.Context, app, id string) error {
	return c.do(ctx, http.MethodDelete, drainsPath(app)+"/"+url.PathEscape(id), nil, nil)
}
