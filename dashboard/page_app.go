package dashboard

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/pierhq/pier/api"
)

// usageDays is how many days of usage the app page shows.
const usageDays = 7

// releasesPerPage is how many releases one page of an app's history shows;
// every release is reachable through the pages.
const releasesPerPage = 20

// configVar is one config var as the app page shows it: masked unless the
// person asked to reveal this one value.
type configVar struct {
	Key      string
	Value    string
	Revealed bool
}

type formationRow struct {
	Type    string
	Count   int
	Command string
}

type appPage struct {
	App        api.App
	Status     string
	Up, Total  int
	Releases   []api.Release
	PageNum    int
	PrevPage   int // 0: none
	NextPage   int // 0: none
	Config     []configVar
	ConfigKeys []string // for a token that may not read values: names only
	Domains    []api.Domain
	Certs      []api.Cert
	Formation  []formationRow
	Events     []api.Event
	Charts     []chart
	Usage      []api.UsageDay // the last days, newest first
	CanDeploy  bool
}

func (p appPage) title() string { return p.App.Name }

// getApp is an app's page.
func (d *Dashboard) getApp(w http.ResponseWriter, r *http.Request, s *session) {
	name := r.PathValue("app")
	c := d.client(s)
	ctx := r.Context()
	app, err := c.GetApp(ctx, name)
	if err != nil {
		d.apiError(w, r, s, err)
		return
	}
	p := appPage{App: app, CanDeploy: s.may(api.RoleDeploy, name)}
	if insts, err := c.Instances(ctx, name); err == nil {
		p.Up, p.Total = countUp(insts, app.LiveSlot)
	}
	p.Status = appStatus(app, p.Up, p.Total)
	rels, err := c.Releases(ctx, name)
	if err != nil {
		d.apiError(w, r, s, err)
		return
	}
	if h, err := c.MetricsHistory(ctx, name); err == nil {
		p.Charts = appCharts(h, rels)
	}
	if u, err := c.Usage(ctx, name, usageDays); err == nil {
		p.Usage = u.Days
	}
	p.pageReleases(rels, r.URL.Query().Get("page"))
	if p.CanDeploy {
		vars, err := c.Config(ctx, name)
		if err != nil {
			d.apiError(w, r, s, err)
			return
		}
		reveal := r.URL.Query().Get("reveal")
		for _, k := range sortedKeys(vars) {
			p.Config = append(p.Config, configVar{Key: k, Value: vars[k], Revealed: k == reveal})
		}
	} else if live := releaseOf(rels, app.LiveRelease); live != nil {
		p.ConfigKeys = live.ConfigKeys
	}
	p.Domains, _ = c.Domains(ctx, name)
	p.Certs, _ = c.Certs(ctx, name)
	for _, t := range sortedKeys(app.Formation) {
		p.Formation = append(p.Formation, formationRow{Type: t, Count: app.Formation[t], Command: app.Processes[t]})
	}
	if evs, err := c.Events(ctx, name, api.EventQuery{Limit: 20}); err == nil {
		slices.Reverse(evs)
		p.Events = evs
	}
	d.render(w, r, http.StatusOK, "app", s, p)
}

// pageReleases keeps one page of rels (newest first).
func (p *appPage) pageReleases(rels []api.Release, pageArg string) {
	slices.SortFunc(rels, func(a, b api.Release) int { return b.Version - a.Version })
	n, err := strconv.Atoi(pageArg)
	if err != nil || n < 1 {
		n = 1
	}
	pages := max(1, (len(rels)+releasesPerPage-1)/releasesPerPage)
	n = min(n, pages)
	p.PageNum, p.PrevPage, p.NextPage = n, 0, 0
	if n > 1 {
		p.PrevPage = n - 1
	}
	if n < pages {
		p.NextPage = n + 1
	}
	p.Releases = rels[(n-1)*releasesPerPage : min(len(rels), n*releasesPerPage)]
}

func releaseOf(rels []api.Release, v int) *api.Release {
	for i := range rels {
		if rels[i].Version == v {
			return &rels[i]
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
