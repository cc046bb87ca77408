package agent

import (
	"io"
	"net/http"

	"github.com/pierhq/pier/api"
)

// The add-on routes (apiRoutes names what each needs). An operation that
// reaches another app than the path's (attaching an add-on of another app,
// destroying one attached elsewhere) also needs the deploy role there.

func (a *Agent) listAddons(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	recs, err := a.store.AppAddons(app.Name)
	if err != nil {
		return err
	}
	out := []api.Addon{}
	for _, rec := range recs {
		out = append(out, a.addons.present(rec))
	}
	writeJSON(w, 200, out)
	return nil
}

func (a *Agent) getAddon(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	rec, err := a.addonOf(app.Name, r.PathValue("addon"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.addons.present(rec))
	return nil
}

// addonOf is the add-on called name when it is attached to app: one that
// is not is "not found", as one that does not exist.
func (a *Agent) addonOf(app, name string) (api.Addon, error) {
	rec, err := a.store.GetAddon(name)
	if err != nil {
		return api.Addon{}, err
	}
	if _, ok := rec.AttachmentOf(app); !ok {
		return api.Addon{}, notFoundf("add-on %q is not attached to %s: see `pier addons list -a %s`", name, app, app)
	}
	return rec, nil
}

func (a *Agent) createAddon(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.AddonCreateRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	ch, err := a.addons.create(r.Context(), app.Name, req, userOf(r), io.Discard)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ch)
	return nil
}

func (a *Agent) destroyAddon(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	name := r.PathValue("addon")
	rec, err := a.addonOf(app.Name, name)
	if err != nil {
		return err
	}
	if err := a.mayDeployAll(r, rec); err != nil {
		return err
	}
	ch, err := a.addons.destroy(r.Context(), app.Name, name, r.URL.Query().Get("confirm"), userOf(r), io.Discard)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ch)
	return nil
}

// mayDeployAll refuses a caller without the deploy role on every app the
// add-on is attached to.
func (a *Agent) mayDeployAll(r *http.Request, rec api.Addon) error {
	p := principalOf(r)
	for _, at := range rec.Attachments {
		if p != nil && !p.may(api.RoleDeploy, at.App) {
			return forbiddenf("%s is attached to %s too, where %s %q has no deploy role", rec.Name, at.App, p.via, p.name)
		}
	}
	return nil
}

func (a *Agent) attachAddon(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.AttachRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("addon")
	rec, err := a.store.GetAddon(name)
	if err != nil {
		return err
	}
	// Attaching reads the add-on's data: it needs the deploy role on the
	// app that owns it too.
	if p := principalOf(r); p != nil && !p.may(api.RoleDeploy, rec.App) {
		return notFoundf("add-on %q not found: see `pier addons list`", name)
	}
	ch, err := a.addons.attach(r.Context(), app.Name, name, req.As, userOf(r), io.Discard)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ch)
	return nil
}

func (a *Agent) detachAddon(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	ch, err := a.addons.detach(r.Context(), app.Name, r.PathValue("addon"), userOf(r), io.Discard)
	if err != nil {
		return err
	}
	writeJSON(w, 200, ch)
	return nil
}
