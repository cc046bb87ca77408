package dashboard

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The app page's forms: each is a POST through signedIn (origin and CSRF
// checked), calls the API with the session's token, and comes back to the
// app page, or shows the API's refusal.

func appURL(app string) string { return Prefix + "/apps/" + url.PathEscape(app) }

// postConfig sets or unsets one config var: a new release, as `pier config set`.
func (d *Dashboard) postConfig(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	key := strings.TrimSpace(r.PostFormValue("key"))
	if key == "" {
		d.renderError(w, r, s, http.StatusBadRequest, "Give the config var's name. Nothing was changed.")
		return
	}
	var val *string
	if r.PostFormValue("unset") == "" {
		v := r.PostFormValue("value")
		val = &v
	}
	if _, err := d.client(s).UpdateConfig(r.Context(), app, map[string]*string{key: val}); err != nil {
		d.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, appURL(app), http.StatusSeeOther)
}

// postScale sets the count of one process type, as `pier scale`.
func (d *Dashboard) postScale(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	typ := r.PostFormValue("type")
	n, err := strconv.Atoi(r.PostFormValue("count"))
	if err != nil || n < 0 {
		d.renderError(w, r, s, http.StatusBadRequest, "The count must be a whole number, 0 or more. Nothing was changed.")
		return
	}
	if _, err := d.client(s).Scale(r.Context(), app, map[string]int{typ: n}); err != nil {
		d.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, appURL(app), http.StatusSeeOther)
}

// postMaintenance turns maintenance on or off, as `pier maintenance`.
func (d *Dashboard) postMaintenance(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	on := r.PostFormValue("on") == "1"
	if err := d.client(s).SetMaintenance(r.Context(), app, on); err != nil {
		d.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, appURL(app), http.StatusSeeOther)
}
