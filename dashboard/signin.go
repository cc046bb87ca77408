package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Cookies: the session's id, and before sign-in the login form's CSRF
// token (double submit). Both HttpOnly, SameSite=Strict, limited to the
// dashboard's path, and Secure when the page came over HTTPS.
const (
	sessionCookie = "pier_session"
	loginCookie   = "pier_login"
)

func (d *Dashboard) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: isHTTPS(r),
	})
}

// isHTTPS reports whether the browser reached the page over HTTPS: TLS
// here, or the edge's X-Forwarded-Proto on the control host.
func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

type loginPage struct {
	CSRF  string
	Error string
}

func (d *Dashboard) getLogin(w http.ResponseWriter, r *http.Request) {
	if s := d.sessionOf(r); s != nil {
		http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
		return
	}
	d.showLogin(w, r, http.StatusOK, "")
}

func (d *Dashboard) showLogin(w http.ResponseWriter, r *http.Request, code int, msg string) {
	csrf := randomID()
	d.setCookie(w, r, loginCookie, csrf, 600)
	d.render(w, r, code, "login", nil, loginPage{CSRF: csrf, Error: msg})
}

// postLogin signs in with a token typed into the form.
func (d *Dashboard) postLogin(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !equalSecret(c.Value, r.PostFormValue("csrf")) {
		d.showLogin(w, r, http.StatusForbidden, "The sign-in form expired or came from another site: sign in again.")
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		d.showLogin(w, r, http.StatusBadRequest, "Paste an API token (pier tokens create, or the agent's admin.token).")
		return
	}
	if !d.signIn(w, r, token) {
		d.showLogin(w, r, http.StatusUnauthorized, "That token is not valid (revoked, expired or mistyped).")
		return
	}
	d.setCookie(w, r, loginCookie, "", -1)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

type linkPage struct {
	CSRF string
	Code string
	Name string // the token's name
}

func (linkPage) title() string { return "Sign in" }

// getLink shows a login link's page: whose token it signs in with, and
// the button that does. Opening the link changes nothing.
func (d *Dashboard) getLink(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	name, ok := d.links.peek(code)
	if !ok {
		d.showLogin(w, r, http.StatusUnauthorized, linkGone)
		return
	}
	csrf := randomID()
	d.setCookie(w, r, loginCookie, csrf, int(LoginLinkTTL.Seconds()))
	d.render(w, r, http.StatusOK, "link", nil, linkPage{CSRF: csrf, Code: code, Name: name})
}

// postLink signs in with a one-time link from `pier dashboard`, when its
// page's button was pressed on this dashboard.
func (d *Dashboard) postLink(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(loginCookie)
	if err != nil || !sameOrigin(r) || !equalSecret(c.Value, r.PostFormValue("csrf")) {
		d.showLogin(w, r, http.StatusForbidden, "That sign-in did not come from the login link's own page: open the link from `pier dashboard` again. Nobody was signed in.")
		return
	}
	token := d.links.take(r.PathValue("code"))
	if token == "" || !d.signIn(w, r, token) {
		d.showLogin(w, r, http.StatusUnauthorized, linkGone)
		return
	}
	d.setCookie(w, r, loginCookie, "", -1)
	http.Redirect(w, r, Prefix+"/", http.StatusSeeOther)
}

const linkGone = "That login link was used already or expired: run `pier dashboard` again, or paste a token."

// signIn verifies token and starts a session for it.
func (d *Dashboard) signIn(w http.ResponseWriter, r *http.Request, token string) bool {
	g, name, err := d.opts.Verify(token, d.opts.ClientIP(r))
	if err != nil {
		return false
	}
	s := d.sessions.start(token, name, g)
	d.setCookie(w, r, sessionCookie, s.id, int(d.opts.SessionTTL.Seconds()))
	return true
}

func (d *Dashboard) postLogout(w http.ResponseWriter, r *http.Request, s *session) {
	d.sessions.end(s.id)
	d.setCookie(w, r, sessionCookie, "", -1)
	http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
}

// sessionOf returns the request's live session, or nil.
func (d *Dashboard) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	return d.sessions.get(c.Value)
}

type sessionHandler func(w http.ResponseWriter, r *http.Request, s *session)

// signedIn serves a page to a signed-in browser and sends others to the
// sign-in page. A POST must come from the dashboard's own origin and carry
// the session's CSRF token, or nothing happens.
func (d *Dashboard) signedIn(h sessionHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s := d.sessionOf(r)
		if s == nil {
			if r.Method != http.MethodGet {
				d.showLogin(w, r, http.StatusUnauthorized, "Your session expired: sign in again. Nothing was changed.")
				return
			}
			http.Redirect(w, r, Prefix+"/login", http.StatusSeeOther)
			return
		}
		if r.Method != http.MethodGet {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			if !sameOrigin(r) || !equalSecret(s.csrf, r.PostFormValue("csrf")) {
				d.renderError(w, r, s, http.StatusForbidden, "This form's security token is missing or wrong (it may come from another site, or from before you signed in again). Nothing was changed: reload the page and try again.")
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, d.opts.ClientIP(r))), s)
	}
}

// sameOrigin reports whether a POST comes from a page of this host: its
// Origin (or, without one, Sec-Fetch-Site) says so. A client that sends
// neither is not a browser that could be tricked into posting.
func sameOrigin(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		return err == nil && o != "null" && u.Host == r.Host
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" {
		return s == "same-origin"
	}
	return true
}
