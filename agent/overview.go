package agent

import (
	"net/http"
	"time"

	"github.com/pierhq/pier/api"
)

// getOverview answers GET /v1/overview: a row for every app the token may
// read (the dashboard's apps page) in one answer, with the proxy's
// counters read once for all of them.
func (a *Agent) getOverview(w http.ResponseWriter, r *http.Request) error {
	apps, err := a.store.ListApps()
	if err != nil {
		return err
	}
	p := principalOf(r)
	now := time.Now()
	cur := a.traffic.read()
	out := make([]api.AppOverview, 0, len(apps))
	for _, app := range apps {
		if !p.may(api.RoleRead, app.Name) {
			continue
		}
		row := api.AppOverview{App: a.present(app), Instances: []api.Instance{}, Certs: a.certsOf(app.Name),
			Metrics: a.traffic.appMetricsOf(app.Name, now, cur)}
		insts, err := a.sched.Instances(r.Context(), app.Name)
		if err == nil {
			row.Instances = presentInstances(insts)
		}
		row.Recent = a.traffic.history(app.Name, recentPoints, now, stateOf(insts), cur)
		out = append(out, row)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
