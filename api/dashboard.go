package api

import (
	"context"
	"net/http"
)

// DashboardLink is a one-time login link to the web dashboard: Path, joined
// to the agent's URL, signs a browser in with the token that asked for it
// for ExpiresIn seconds, once.
type DashboardLink struct {
	Path      string `json:"path"`
	ExpiresIn int    `json:"expires_in"`
}

// DashboardLink asks for a one-time login link to the dashboard.
func (c *Client) DashboardLink(ctx context.Context) (DashboardLink, error) {
	var l DashboardLink
	err := c.do(ctx, http.MethodPost, "/v1/dashboard/links", nil, &l)
	return l, err
}
