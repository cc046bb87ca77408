package agent

import (
	"io"
	"net/http"

	"github.com/pierhq/pier/api"
)

// The API of pipelines: making them, putting apps at their stages, and
// promoting a release downstream (promote.go).

func (a *Agent) listPipelines(w http.ResponseWriter, r *http.Request) error {
	ps, err := a.store.ListPipelines()
	if err != nil {
		return err
	}
	for i := range ps {
		ps[i] = a.presentPipeline(ps[i])
	}
	writeJSON(w, 200, ps)
	return nil
}

func (a *Agent) createPipeline(w http.ResponseWriter, r *http.Request) error {
	var req api.CreatePipelineRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	auditNote(r, "", req.Name)
	if err := a.store.CreatePipeline(api.Pipeline{Name: req.Name}); err != nil {
		return err
	}
	p, err := a.store.GetPipeline(req.Name)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.presentPipeline(p))
	return nil
}

func (a *Agent) getPipeline(w http.ResponseWriter, r *http.Request) error {
	p, err := a.store.GetPipeline(r.PathValue("pipeline"))
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.presentPipeline(p))
	return nil
}

func (a *Agent) destroyPipeline(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("pipeline")
	auditNote(r, "", name)
	if err := a.store.DeletePipeline(name); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (a *Agent) addPipelineApp(w http.ResponseWriter, r *http.Request) error {
	var req api.PipelineAppRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	name := r.PathValue("pipeline")
	auditNote(r, req.App, name)
	p, err := a.store.AddToPipeline(name, req.App, req.Stage)
	if err != nil {
		return err
	}
	writeJSON(w, 200, a.presentPipeline(p))
	return nil
}

func (a *Agent) removePipelineApp(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	p, err := a.store.RemoveFromPipeline(app.Name)
	if err != nil {
		return err
	}
	auditNote(r, app.Name, p.Name)
	writeJSON(w, 200, a.presentPipeline(p))
	return nil
}

// postPromote promotes the path's live release. Reading the path's app is
// enough to promote from it; every app it goes to needs deploy, so a token
// limited to some apps cannot promote into another.
func (a *Agent) postPromote(w http.ResponseWriter, r *http.Request) error {
	app, err := a.appOf(r)
	if err != nil {
		return err
	}
	var req api.PromoteRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Release < 0 {
		return invalidf("v%d is not a release version", req.Release)
	}
	p := principalOf(r)
	allow := func(target string) error { return p.check(needDeploy, target) }
	res, err := a.deploy.promote(r.Context(), app.Name, req.Release, req.To, allow, userOf(r), io.Discard)
	if err != nil {
		return err
	}
	writeJSON(w, 200, res)
	return nil
}

// presentPipeline fills in what each app of p runs now.
func (a *Agent) presentPipeline(p api.Pipeline) api.Pipeline {
	if p.Apps == nil {
		p.Apps = []api.PipelineApp{}
	}
	for i, pa := range p.Apps {
		p.Apps[i].WebURL = a.cfg.webURL(pa.App)
		app, err := a.store.GetApp(pa.App)
		if err != nil || app.LiveRelease == 0 {
			continue
		}
		p.Apps[i].LiveRelease = app.LiveRelease
		if rel, err := a.store.GetRelease(pa.App, app.LiveRelease); err == nil {
			p.Apps[i].Commit = rel.Commit
		}
	}
	return p
}
