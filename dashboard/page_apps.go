package dashboard

import (
	"net/http"

	"github.com/pierhq/pier/api"
)

// appSummary is one row of the apps overview.
type appSummary struct {
	Name        string
	Status      string
	LiveRelease int
	Up, Total   int
	Rate        float64 // requests per second over the metrics window
	ErrorRatio  float64
	RateSpark   *chart // the last half hour
	ErrorSpark  *chart
	Certs       string // "valid", "pending 1 of 2", "failing: ..."
	WebURL      string
}

type appsPage struct{ Apps []appSummary }

func (appsPage) title() string { return "Apps" }

// getApps is the overview: every app the token may read, in one call.
func (d *Dashboard) getApps(w http.ResponseWriter, r *http.Request, s *session) {
	rows, err := d.client(s).Overview(r.Context())
	if err != nil {
		d.apiError(w, r, s, err)
		return
	}
	page := appsPage{Apps: make([]appSummary, len(rows))}
	for i, row := range rows {
		page.Apps[i] = summarize(row)
	}
	d.render(w, r, http.StatusOK, "apps", s, page)
}

// summarize is one app's row of the overview.
func summarize(o api.AppOverview) appSummary {
	app := o.App
	sum := appSummary{Name: app.Name, LiveRelease: app.LiveRelease, WebURL: app.WebURL}
	sum.Up, sum.Total = countUp(o.Instances, app.LiveSlot)
	sum.Rate, sum.ErrorRatio = traffic(o.Metrics)
	sum.RateSpark, sum.ErrorSpark = sparklines(o.Recent)
	sum.Certs = certSummary(o.Certs)
	sum.Status = appStatus(app, sum.Up, sum.Total)
	return sum
}

// countUp counts the live slot's instances, and those of them up.
func countUp(insts []api.Instance, slot string) (up, total int) {
	for _, in := range insts {
		if in.Slot != slot {
			continue
		}
		total++
		if in.State == api.StateUp {
			up++
		}
	}
	return up, total
}

// traffic is an app's request rate and 5xx ratio over the window.
func traffic(m api.AppMetrics) (rate, errRatio float64) {
	var reqs, errs float64
	for _, rm := range m.Releases {
		rate += rm.Rate
		reqs += rm.Requests
		errs += rm.Errors
	}
	if reqs > 0 {
		errRatio = errs / reqs
	}
	return rate, errRatio
}

func appStatus(app api.App, up, total int) string {
	switch {
	case app.Maintenance:
		return "maintenance"
	case app.LiveRelease == 0:
		return "not deployed"
	case total > 0 && up == total:
		return "running"
	case up > 0:
		return "degraded"
	default:
		return "down"
	}
}

func certSummary(certs []api.Cert) string {
	if len(certs) == 0 {
		return "none (HTTP)"
	}
	valid, off := 0, 0
	for _, c := range certs {
		switch c.Status {
		case "failing":
			return "failing: " + c.Host
		case "valid":
			valid++
		case "off":
			off++
		}
	}
	switch len(certs) {
	case valid:
		return "valid"
	case off:
		return "HTTPS off"
	}
	return "pending"
}
