package api

import (
	"context"
	"io"
	"net/http"
	"net/url"
)

// Add-on routes:
//
//	GET    /v1/apps/{app}/addons            POST /v1/apps/{app}/addons
//	GET    /v1/apps/{app}/addons/{addon}    DELETE /v1/apps/{app}/addons/{addon}?confirm=ADDON
//	POST   /v1/apps/{app}/addons/{addon}/attach   DELETE /v1/apps/{app}/addons/{addon}/attach
//	GET    /v1/apps/{app}/pg/info           POST /v1/apps/{app}/pg/psql?command= (full duplex)
//	GET    /v1/apps/{app}/pg/backups        POST /v1/apps/{app}/pg/backups
//	GET    /v1/apps/{app}/pg/backups/{id}   POST /v1/apps/{app}/pg/backups/{id}/restore?from=APP
//	POST   /v1/apps/{app}/redis/cli?arg=    (full duplex)
//
// Every route takes ?addon=NAME to pick one of several add-ons.

func addonQuery(addon string) string {
	if addon == "" {
		return ""
	}
	return "?" + url.Values{"addon": {addon}}.Encode()
}

func (c *Client) ListAddons(ctx context.Context, app string) ([]Addon, error) {
	var out []Addon
	err := c.do(ctx, http.MethodGet, appPath(app, "addons"), nil, &out)
	return out, err
}

func (c *Client) GetAddon(ctx context.Context, app, name string) (Addon, error) {
	var out Addon
	err := c.do(ctx, http.MethodGet, appPath(app, "addons", url.PathEscape(name)), nil, &out)
	return out, err
}

func (c *Client) CreateAddon(ctx context.Context, app string, req AddonCreateRequest) (AddonChange, error) {
	var out AddonChange
	err := c.do(ctx, http.MethodPost, appPath(app, "addons"), req, &out)
	return out, err
}

func (c *Client) DestroyAddon(ctx context.Context, app, name, confirm string) (AddonChange, error) {
	var out AddonChange
	q := url.Values{"confirm": {confirm}}.Encode()
	err := c.do(ctx, http.MethodDelete, appPath(app, "addons", url.PathEscape(name))+"?"+q, nil, &out)
	return out, err
}

func (c *Client) AttachAddon(ctx context.Context, app, name, as string) (AddonChange, error) {
	var out AddonChange
	err := c.do(ctx, http.MethodPost, appPath(app, "addons", url.PathEscape(name), "attach"), AttachRequest{As: as}, &out)
	return out, err
}

func (c *Client) DetachAddon(ctx context.Context, app, name string) (AddonChange, error) {
	var out AddonChange
	err := c.do(ctx, http.MethodDelete, appPath(app, "addons", url.PathEscape(name), "attach"), nil, &out)
	return out, err
}

func (c *Client) PgInfo(ctx context.Context, app string) ([]PgInfo, error) {
	var out []PgInfo
	err := c.do(ctx, http.MethodGet, appPath(app, "pg", "info"), nil, &out)
	return out, err
}

func (c *Client) PgBackups(ctx context.Context, app, addon string) ([]PgBackup, error) {
	var out []PgBackup
	err := c.do(ctx, http.MethodGet, appPath(app, "pg", "backups")+addonQuery(addon), nil, &out)
	return out, err
}

func (c *Client) CapturePgBackup(ctx context.Context, app, addon string) (PgBackup, error) {
	var out PgBackup
	err := c.do(ctx, http.MethodPost, appPath(app, "pg", "backups")+addonQuery(addon), nil, &out)
	return out, err
}

// DownloadPgBackup streams the backup (pg_dump's custom format) to w.
func (c *Client) DownloadPgBackup(ctx context.Context, app, addon, id string, w io.Writer) error {
	return c.stream(ctx, http.MethodGet, appPath(app, "pg", "backups", url.PathEscape(id))+addonQuery(addon), nil, w)
}

// RestorePgBackup restores backup id (of app, or of the app from) into the
// app's database.
func (c *Client) RestorePgBackup(ctx context.Context, app, addon, id, from string) error {
	q := url.Values{}
	if addon != "" {
		q.Set("addon", addon)
	}
	if from != "" {
		q.Set("from", from)
	}
	return c.do(ctx, http.MethodPost, appPath(app, "pg", "backups", url.PathEscape(id), "restore")+"?"+q.Encode(), nil, nil)
}

// Session runs a client of the app's add-on (what is "pg/psql" or
// "redis/cli") with q, sends stdin to it as it comes (nil sends nothing),
// streams its output to w and returns its exit code.
func (c *Client) Session(ctx context.Context, app, what string, q url.Values, stdin io.Reader, w io.Writer) (int, error) {
	req, err := c.newRequest(ctx, http.MethodPost, appPath(app, what)+"?"+q.Encode(), nil)
	if err != nil {
		return -1, err
	}
	if stdin != nil {
		req.Body = io.NopCloser(stdin)
		req.ContentLength = -1
	}
	return c.runStream(req, w)
}
