package dashboard

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
)

// pageNames are the templates/NAME.html pages; each is rendered inside
// templates/layout.html. html/template escapes every value by where it
// goes, so a commit message or a config key is text, never markup.
var pageNames = []string{"login", "link", "error", "apps", "app", "rollback", "logs", "deploy"}

var funcs = template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
	"short": func(commit string) string {
		if len(commit) > 7 {
			return commit[:7]
		}
		return commit
	},
	"percent": func(f float64) string { return fmt.Sprintf("%.1f%%", f*100) },
	"rate":    func(f float64) string { return fmt.Sprintf("%.2f/s", f) },
	"join":    strings.Join,
	"bytes":   func(n uint64) string { return bytesLabel(float64(n)) },
}

func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/chart.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("parsing the dashboard's %s page: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// view is what every page gets: who is signed in, the CSRF token its
// forms carry, and the page's own data.
type view struct {
	Title string
	User  string
	Role  string
	Apps  string // the apps a limited token covers
	CSRF  string
	Page  any
}

// view is what a page of session s (nil before sign-in) gets with data.
func (d *Dashboard) view(s *session, data any) view {
	v := view{Page: data}
	if s != nil {
		v.User, v.Role, v.CSRF, v.Apps = s.name, s.grant.Role, s.csrf, strings.Join(s.grant.Apps, ", ")
	}
	if t, ok := data.(interface{ title() string }); ok {
		v.Title = t.title()
	}
	return v
}

// render writes page name with data; s is nil before sign-in.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, code int, name string, s *session, data any) {
	v := d.view(s, data)
	if v.Title == "" {
		v.Title = name
	}
	var buf bytes.Buffer
	if err := d.pages[name].Execute(&buf, v); err != nil {
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = buf.WriteTo(w)
}

type errorPage struct {
	Code    int
	Message string
}

func (e errorPage) title() string { return http.StatusText(e.Code) }

// renderError shows a page that says what went wrong and what to do.
func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, s *session, code int, msg string) {
	d.render(w, r, code, "error", s, errorPage{Code: code, Message: msg})
}

// apiError shows the API's refusal of a call as a page with its status:
// an app the token may not see is "not found", a role too low forbidden.
func (d *Dashboard) apiError(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var se *api.StatusError
	if errors.As(err, &se) {
		if se.Code == http.StatusUnauthorized {
			d.sessions.end(s.id)
			d.showLogin(w, r, http.StatusUnauthorized, "Your token is no longer valid: sign in again. Nothing was changed.")
			return
		}
		d.renderError(w, r, s, se.Code, se.Message)
		return
	}
	d.renderError(w, r, s, http.StatusBadGateway, "The agent could not answer: "+err.Error())
}
