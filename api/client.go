package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Routes of the agent's API. Every route but /healthz and /readyz needs
// "Authorization: Bearer TOKEN".
//
//	GET    /healthz                         GET /readyz (503 naming what is not ready)
//	GET    /v1/version
//	GET    /v1/apps                         POST /v1/apps
//	GET    /v1/apps/{app}                   DELETE /v1/apps/{app}
//	GET    /v1/apps/{app}/releases          POST /v1/apps/{app}/rollback
//	GET    /v1/apps/{app}/ps                POST /v1/apps/{app}/scale
//	POST   /v1/apps/{app}/restart           POST /v1/apps/{app}/run (streams output, then "\x00exit=N\n")
//	GET    /v1/apps/{app}/logs?n=&follow=&process=   (text/plain stream)
//	GET    /v1/apps/{app}/config            PATCH /v1/apps/{app}/config
//	GET    /v1/apps/{app}/domains           POST /v1/apps/{app}/domains    DELETE /v1/apps/{app}/domains/{host}
//	GET    /v1/apps/{app}/certs             GET /v1/apps/{app}/metrics
//	PUT    /v1/apps/{app}/maintenance
//	POST   /v1/apps/{app}/purge-cache
//	GET    /v1/tokens   POST /v1/tokens   DELETE /v1/tokens/{id}
//	GET    /v1/keys     POST /v1/keys     DELETE /v1/keys/{fingerprint}
//	/git/{app}.git/...  git smart HTTP (basic auth, the token as password)

// RunExitPrefix starts the last line of a /run stream: "\x00exit=CODE".
const RunExitPrefix = "\x00exit="

// StatusError is returned for every non-2xx answer.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return e.Message }

// IsNotFound reports whether err is a 404 from the agent.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

// Client is the typed client of the agent's API.
type Client struct {
	BaseURL string
	Token   string
	HTTP    *http.Client // for short calls; streams use a client without timeout
}

// NewClient returns a client for the agent at baseURL.
func NewClient(baseURL, token string) *Client {
	return &Client{
		BaseURL: strings.TrimRight(baseURL, "/"),
		Token:   token,
		HTTP:    &http.Client{Timeout: 5 * time.Minute},
	}
}

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.BaseURL+path, r)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	req.Header.Set("User-Agent", "pier-cli")
	return req, nil
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("reaching the pier agent at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("reading the agent's answer to %s %s: %w", method, path, err)
	}
	return nil
}

func checkStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var e Error
	msg := strings.TrimSpace(string(b))
	if json.Unmarshal(b, &e) == nil && e.Message != "" {
		msg = e.Message
	}
	if msg == "" {
		msg = resp.Status
	}
	if resp.StatusCode == http.StatusUnauthorized {
		msg += " (check PIER_TOKEN or run `pier login`)"
	}
	return &StatusError{Code: resp.StatusCode, Message: msg}
}

func appPath(app string, rest ...string) string {
	p := "/v1/apps/" + url.PathEscape(app)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Health checks that the agent answers.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil)
}

func (c *Client) Version(ctx context.Context) (Version, error) {
	var v Version
	err := c.do(ctx, http.MethodGet, "/v1/version", nil, &v)
	return v, err
}

// Apps.

func (c *Client) CreateApp(ctx context.Context, name string) (App, error) {
	var a App
	err := c.do(ctx, http.MethodPost, "/v1/apps", CreateAppRequest{Name: name}, &a)
	return a, err
}

func (c *Client) ListApps(ctx context.Context) ([]App, error) {
	var as []App
	err := c.do(ctx, http.MethodGet, "/v1/apps", nil, &as)
	return as, err
}

func (c *Client) GetApp(ctx context.Context, app string) (App, error) {
	var a App
	err := c.do(ctx, http.MethodGet, appPath(app), nil, &a)
	return a, err
}

func (c *Client) DestroyApp(ctx context.Context, app string) error {
	return c.do(ctx, http.MethodDelete, appPath(app), nil, nil)
}

// Releases.

func (c *Client) Releases(ctx context.Context, app string) ([]Release, error) {
	var rs []Release
	err := c.do(ctx, http.MethodGet, appPath(app, "releases"), nil, &rs)
	return rs, err
}

// ConfigChanges names the config vars that differ from release from to
// release to of app (never their values).
func (c *Client) ConfigChanges(ctx context.Context, app string, from, to int) (ConfigChanges, error) {
	var ch ConfigChanges
	err := c.do(ctx, http.MethodGet, appPath(app, "releases", "v"+strconv.Itoa(to), "config-changes")+"?from="+strconv.Itoa(from), nil, &ch)
	return ch, err
}

// Metrics returns app's traffic per release over the last minutes.
func (c *Client) Metrics(ctx context.Context, app string) (AppMetrics, error) {
	var m AppMetrics
	err := c.do(ctx, http.MethodGet, appPath(app, "metrics"), nil, &m)
	return m, err
}

// MetricsHistory returns app's traffic and instances of the last hours.
func (c *Client) MetricsHistory(ctx context.Context, app string) (MetricsHistory, error) {
	var m MetricsHistory
	err := c.do(ctx, http.MethodGet, appPath(app, "metrics/history"), nil, &m)
	return m, err
}

// Overview returns a row for every app the token may read (the
// dashboard's apps page) in one call.
func (c *Client) Overview(ctx context.Context) ([]AppOverview, error) {
	var o []AppOverview
	err := c.do(ctx, http.MethodGet, "/v1/overview", nil, &o)
	return o, err
}

// Usage returns app's usage of its last days days (0: the agent's
// default), newest first.
func (c *Client) Usage(ctx context.Context, app string, days int) (AppUsage, error) {
	var u AppUsage
	path := appPath(app, "usage")
	if days > 0 {
		path += "?days=" + strconv.Itoa(days)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &u)
	return u, err
}

// Rollback rolls back to version, or to the release before the live one
// when version is 0. It returns the new release.
func (c *Client) Rollback(ctx context.Context, app string, version int) (Release, error) {
	var r Release
	err := c.do(ctx, http.MethodPost, appPath(app, "rollback"), RollbackRequest{Version: version}, &r)
	return r, err
}

// Formation and processes.

func (c *Client) Instances(ctx context.Context, app string) ([]Instance, error) {
	var is []Instance
	err := c.do(ctx, http.MethodGet, appPath(app, "ps"), nil, &is)
	return is, err
}

func (c *Client) Scale(ctx context.Context, app string, f map[string]int) (App, error) {
	return c.ScaleTo(ctx, app, ScaleRequest{Formation: f})
}

// ScaleTo sets counts and, when given, memory limits per process type.
func (c *Client) ScaleTo(ctx context.Context, app string, req ScaleRequest) (App, error) {
	var a App
	err := c.do(ctx, http.MethodPost, appPath(app, "scale"), req, &a)
	return a, err
}

func (c *Client) Restart(ctx context.Context, app string) error {
	return c.do(ctx, http.MethodPost, appPath(app, "restart"), nil, nil)
}

func (c *Client) SetMaintenance(ctx context.Context, app string, on bool) error {
	return c.do(ctx, http.MethodPut, appPath(app, "maintenance"), MaintenanceRequest{Enabled: on}, nil)
}

// UpdateSettings sets (or, for nil values, unsets) app settings and returns
// the app as it is now.
func (c *Client) UpdateSettings(ctx context.Context, app string, settings map[string]*string) (App, error) {
	var a App
	err := c.do(ctx, http.MethodPatch, appPath(app, "settings"), SettingsRequest{Settings: settings}, &a)
	return a, err
}

func (c *Client) PurgeCache(ctx context.Context, app string) error {
	return c.do(ctx, http.MethodPost, appPath(app, "purge-cache"), nil, nil)
}

// Config.

func (c *Client) Config(ctx context.Context, app string) (map[string]string, error) {
	var m map[string]string
	err := c.do(ctx, http.MethodGet, appPath(app, "config"), nil, &m)
	return m, err
}

// UpdateConfig sets (non-nil) and unsets (nil) vars; it returns the new release.
func (c *Client) UpdateConfig(ctx context.Context, app string, vars map[string]*string) (Release, error) {
	var r Release
	err := c.do(ctx, http.MethodPatch, appPath(app, "config"), ConfigRequest{Vars: vars}, &r)
	return r, err
}

// Domains and certificates.

func (c *Client) Domains(ctx context.Context, app string) ([]Domain, error) {
	var ds []Domain
	err := c.do(ctx, http.MethodGet, appPath(app, "domains"), nil, &ds)
	return ds, err
}

func (c *Client) AddDomain(ctx context.Context, app, host string) (Domain, error) {
	var d Domain
	err := c.do(ctx, http.MethodPost, appPath(app, "domains"), DomainRequest{Host: host}, &d)
	return d, err
}

func (c *Client) RemoveDomain(ctx context.Context, app, host string) error {
	return c.do(ctx, http.MethodDelete, appPath(app, "domains", url.PathEscape(host)), nil, nil)
}

func (c *Client) Certs(ctx context.Context, app string) ([]Cert, error) {
	var cs []Cert
	err := c.do(ctx, http.MethodGet, appPath(app, "certs"), nil, &cs)
	return cs, err
}

// Tokens and keys.

func (c *Client) Tokens(ctx context.Context) ([]Token, error) {
	var ts []Token
	err := c.do(ctx, http.MethodGet, "/v1/tokens", nil, &ts)
	return ts, err
}

func (c *Client) CreateToken(ctx context.Context, req TokenRequest) (Token, error) {
	var t Token
	err := c.do(ctx, http.MethodPost, "/v1/tokens", req, &t)
	return t, err
}

func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/v1/tokens/"+url.PathEscape(id), nil, nil)
}

// RotateAdminToken makes a new admin token, revokes the one the agent
// bootstrapped from admin.token or PIER_ADMIN_TOKEN, and writes the new
// secret to the agent's admin.token. The answer holds the new secret.
func (c *Client) RotateAdminToken(ctx context.Context) (Token, error) {
	var t Token
	err := c.do(ctx, http.MethodPost, "/v1/tokens/rotate-admin", nil, &t)
	return t, err
}

// RotateKey re-encrypts every config value at rest under a new secret key.
func (c *Client) RotateKey(ctx context.Context) (KeyRotation, error) {
	var k KeyRotation
	err := c.do(ctx, http.MethodPost, "/v1/secrets/rotate-key", nil, &k)
	return k, err
}

func (c *Client) Keys(ctx context.Context) ([]Key, error) {
	var ks []Key
	err := c.do(ctx, http.MethodGet, "/v1/keys", nil, &ks)
	return ks, err
}

func (c *Client) AddKey(ctx context.Context, req KeyRequest) (Key, error) {
	var k Key
	err := c.do(ctx, http.MethodPost, "/v1/keys", req, &k)
	return k, err
}

func (c *Client) RemoveKey(ctx context.Context, fingerprint string) error {
	return c.do(ctx, http.MethodDelete, "/v1/keys/"+url.PathEscape(fingerprint), nil, nil)
}

// Audit returns the audit log, oldest first: changes of app (all when
// ""), made after since (all when zero), the last limit (all kept when 0).
func (c *Client) Audit(ctx context.Context, app string, since time.Time, limit int) ([]AuditEntry, error) {
	q := url.Values{}
	if app != "" {
		q.Set("app", app)
	}
	if !since.IsZero() {
		q.Set("since", since.UTC().Format(time.RFC3339))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var es []AuditEntry
	err := c.do(ctx, http.MethodGet, "/v1/audit?"+q.Encode(), nil, &es)
	return es, err
}

// Streams.

// LogOptions select log lines.
type LogOptions struct {
	Lines   int    // last N lines; 0: the agent's default (100)
	Follow  bool   // keep streaming new lines
	Process string // only lines of this process type ("web") or source ("router", "pier")
	// Since and Until bound the lines' times; Grep keeps the lines that
	// contain it. With any of them Lines counts the matching lines, out of
	// all the agent keeps.
	Since, Until time.Time
	Grep         string
}

// Logs streams an app's log lines to w until the stream ends or ctx is done.
func (c *Client) Logs(ctx context.Context, app string, o LogOptions, w io.Writer) error {
	q := url.Values{}
	if o.Lines > 0 {
		q.Set("n", strconv.Itoa(o.Lines))
	}
	if o.Follow {
		q.Set("follow", "1")
	}
	if o.Process != "" {
		q.Set("process", o.Process)
	}
	if !o.Since.IsZero() {
		q.Set("since", o.Since.UTC().Format(time.RFC3339Nano))
	}
	if !o.Until.IsZero() {
		q.Set("until", o.Until.UTC().Format(time.RFC3339Nano))
	}
	if o.Grep != "" {
		q.Set("grep", o.Grep)
	}
	err := c.stream(ctx, http.MethodGet, appPath(app, "logs")+"?"+q.Encode(), nil, w)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// FollowDeploy calls each with the lines of app's push running now (or of
// the last one, or, with none since the agent started, of the next), as
// they come, until the one whose Done is set; no timeout but ctx's.
func (c *Client) FollowDeploy(ctx context.Context, app string, each func(DeployLine) error) error {
	req, err := c.newRequest(ctx, http.MethodGet, appPath(app, "deploys", "live"), nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: c.HTTP.Transport}).Do(req)
	if err != nil {
		return fmt.Errorf("reaching the pier agent at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var d DeployLine
		if err := dec.Decode(&d); err != nil {
			return fmt.Errorf("reading the deploy's lines: %w", err)
		}
		if err := each(d); err != nil || d.Done {
			return err
		}
	}
}

// stream copies the body of an answer of unbounded length (logs, a backup)
// to w, with no timeout but ctx's.
func (c *Client) stream(ctx context.Context, method, path string, body any, w io.Writer) error {
	req, err := c.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("reaching the pier agent at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return err
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// Run runs a one-off command in the app's live release, streams its output to
// w and returns its exit code.
func (c *Client) Run(ctx context.Context, app, command string, w io.Writer) (int, error) {
	req, err := c.newRequest(ctx, http.MethodPost, appPath(app, "run"), RunRequest{Command: command})
	if err != nil {
		return -1, err
	}
	return c.runStream(req, w)
}

// runStream sends req, which answers with a process's output and its exit
// trailer, copies the output to w and returns the exit code.
func (c *Client) runStream(req *http.Request, w io.Writer) (int, error) {
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return -1, fmt.Errorf("reaching the pier agent at %s: %w", c.BaseURL, err)
	}
	defer resp.Body.Close()
	if err := checkStatus(resp); err != nil {
		return -1, err
	}
	return CopyRunOutput(w, resp.Body)
}

// CopyRunOutput copies a /run stream to w, holding back the trailer line,
// and returns the exit code it carries (-1 when the stream ended without one).
func CopyRunOutput(w io.Writer, r io.Reader) (int, error) {
	buf := make([]byte, 32<<10)
	var pending []byte
	for {
		n, err := r.Read(buf)
		pending = append(pending, buf[:n]...)
		if i := bytes.Index(pending, []byte(RunExitPrefix)); i >= 0 {
			if _, werr := w.Write(pending[:i]); werr != nil {
				return -1, werr
			}
			rest := pending[i+len(RunExitPrefix):]
			if err == nil {
				more, _ := io.ReadAll(io.LimitReader(r, 64))
				rest = append(rest, more...)
			}
			code, cerr := strconv.Atoi(strings.TrimSpace(string(rest)))
			if cerr != nil {
				return -1, fmt.Errorf("bad exit trailer %q", rest)
			}
			return code, nil
		}
		// Keep a tail that could be the start of the trailer.
		if keep := len(RunExitPrefix); len(pending) > keep {
			if _, werr := w.Write(pending[:len(pending)-keep]); werr != nil {
				return -1, werr
			}
			pending = append(pending[:0], pending[len(pending)-keep:]...)
		}
		if err == io.EOF {
			_, _ = w.Write(pending)
			return -1, errors.New("the stream ended before the command's exit code arrived")
		}
		if err != nil {
			return -1, err
		}
	}
}

// Backup has the agent make a backup archive and streams it to w. The
// archive ends with its manifest: one cut short has none.
func (c *Client) Backup(ctx context.Context, r BackupRequest, w io.Writer) error {
	return c.stream(ctx, http.MethodPost, "/v1/backups", r, w)
}
