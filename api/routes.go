package api

import (
	"context"
	"strconv"
)

// RouteSet is the agent's route table at one version: the desired state
// that every edge serves (GET /v1/routes, which `pier proxy` follows).
// Versions grow, across restarts of the agent too.
type RouteSet struct {
	Version uint64  `json:"version"`
	Routes  []Route `json:"routes"`
}

// Route is one app as an edge should serve it: its hosts and settings, its
// live slot, and every running web instance. An edge routes an instance of
// the live slot once it has passed Health, and not while it drains.
type Route struct {
	App            string            `json:"app"`
	Hosts          []string          `json:"hosts"`
	Maintenance    bool              `json:"maintenance,omitempty"`
	RateLimitRPS   float64           `json:"rate_limit_rps,omitempty"`
	RateLimitBurst int               `json:"rate_limit_burst,omitempty"`
	Headers        map[string]string `json:"headers,omitempty"`
	Health         RouteHealth       `json:"health"`
	LiveSlot       string            `json:"live_slot,omitempty"`
	Instances      []RouteInstance   `json:"instances,omitempty"`
}

// RouteHealth is how an edge tells a healthy instance: a GET of Path that
// answers below 500 within Timeout, with Content in its body when set.
type RouteHealth struct {
	Path    string   `json:"path"`
	Content string   `json:"content,omitempty"`
	Timeout Duration `json:"timeout"`
}

// RouteInstance is one running web instance; ID names its incarnation.
type RouteInstance struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Name     string `json:"name"`
	Slot     string `json:"slot"`
	Release  int    `json:"release"`
	Draining bool   `json:"draining,omitempty"`
}

// WatchRoutes returns the agent's routes once their version is newer than
// after (0: at once), or the current ones when nothing changed within the
// agent's wait of about half a minute: a long poll.
func (c *Client) WatchRoutes(ctx context.Context, after uint64) (RouteSet, error) {
	var set RouteSet
	err := c.do(ctx, "GET", "/v1/routes?after="+strconv.FormatUint(after, 10), nil, &set)
	return set, err
}
