// Package dashboard is pier's web dashboard: server-rendered pages that the
// agent serves on its API address and on the control host pier.<domain>.
//
// The dashboard holds no authority of its own. A signed-in browser holds a
// random session id in a cookie; the session holds the API token it signed
// in with, and every page and every change calls the agent's own API
// handler in-process with that token, so the same role checks, app scopes
// and audit log apply as for the CLI. What a token may not do is left out
// of the pages, and refused by the API anyway.
package dashboard

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/pierhq/pier/api"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is where the dashboard's pages live on the agent's HTTP server.
const Prefix = "/dashboard"

// Options are what the agent gives the dashboard.
type Options struct {
	// API is the agent's API handler: the dashboard's calls go through it.
	API http.Handler
	// Verify checks a token secret presented from client address ip (the
	// API's own check, with its guard against guessing) and returns its
	// grant and name.
	Verify func(secret, ip string) (api.Grant, string, error)
	// ClientIP is the client's address as the API sees it (trusted
	// proxies' X-Forwarded-For honoured).
	ClientIP func(r *http.Request) string
	// SessionTTL is how long a sign-in lasts (default DefaultSessionTTL).
	SessionTTL time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// DefaultSessionTTL is how long a sign-in lasts unless Options say.
const DefaultSessionTTL = 12 * time.Hour

// Dashboard serves the pages.
type Dashboard struct {
	opts     Options
	sessions *sessions
	links    *loginLinks
	pages    map[string]*template.Template
	mux      *http.ServeMux
}

// New builds the dashboard.
func New(o Options) (*Dashboard, error) {
	if o.SessionTTL <= 0 {
		o.SessionTTL = DefaultSessionTTL
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	d := &Dashboard{
		opts:     o,
		sessions: newSessions(o.SessionTTL, o.Now),
		links:    newLoginLinks(LoginLinkTTL, o.Now),
		pages:    pages,
	}
	d.mux = d.routes()
	return d, nil
}

// routes are the dashboard's pages. Every POST is checked for its origin
// and its CSRF token before its handler runs (see guard).
func (d *Dashboard) routes() *http.ServeMux {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix+"/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET "+Prefix+"/login", d.getLogin)
	mux.HandleFunc("POST "+Prefix+"/login", d.postLogin)
	mux.HandleFunc("GET "+Prefix+"/link/{code}", d.getLink)
	mux.HandleFunc("POST "+Prefix+"/link/{code}", d.postLink)
	mux.HandleFunc("POST "+Prefix+"/logout", d.signedIn(d.postLogout))
	mux.HandleFunc("GET "+Prefix+"/{$}", d.signedIn(d.getApps))
	mux.HandleFunc("GET "+Prefix+"/apps/{app}", d.signedIn(d.getApp))
	mux.HandleFunc("GET "+Prefix+"/apps/{app}/logs", d.signedIn(d.getLogs))
	mux.HandleFunc("GET "+Prefix+"/apps/{app}/deploy", d.signedIn(d.getDeploy))
	mux.HandleFunc("GET "+Prefix+"/apps/{app}/rollback/{version}", d.signedIn(d.getRollback))
	mux.HandleFunc("POST "+Prefix+"/apps/{app}/rollback/{version}", d.signedIn(d.postRollback))
	mux.HandleFunc("POST "+Prefix+"/apps/{app}/config", d.signedIn(d.postConfig))
	mux.HandleFunc("POST "+Prefix+"/apps/{app}/scale", d.signedIn(d.postScale))
	mux.HandleFunc("POST "+Prefix+"/apps/{app}/maintenance", d.signedIn(d.postMaintenance))
	mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		d.renderError(w, r, nil, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	return mux
}

// ServeHTTP serves a dashboard page with its security headers.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	d.mux.ServeHTTP(w, r)
}

// CSP is the Content-Security-Policy of every page: the dashboard's own
// files only, no inline script or style, no framing, forms post only to
// the dashboard.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin") // "no-referrer" makes a browser send Origin: null on POST
	h.Set("Cache-Control", "no-store")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}
