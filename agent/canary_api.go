package agent

import (
	"io"
	"net/http"

	"github.com/pierhq/pier/api"
)

// The canary's API: start one, see it, and promote, abort, pause or resume
// it (canary.go, canary_run.go).

func (a *Agent) postCanary(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.CanaryRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Release < 0 {
		return invalidf("v%d is not a release version", req.Release)
	}
	st, err := a.deploy.startCanary(r.Context(), app.Name, req, userOf(r), io.Discard)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (a *Agent) getCanary(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	st, err := a.deploy.canaryStatus(app.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (a *Agent) postCanaryAction(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var st api.CanaryStatus
	switch action := r.PathValue("action"); action {
	case "promote":
		st, err = a.deploy.promoteCanary(r.Context(), app.Name, userOf(r))
	case "abort":
		st, err = a.deploy.abortCanary(r.Context(), app.Name, userOf(r))
	case "pause", "resume":
		st, err = a.deploy.pauseCanary(app.Name, action == "pause")
	default:
		return notFoundf("no canary action %q: use promote, abort, pause or resume", action)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}
