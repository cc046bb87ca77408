package dashboard

import (
	"context"
	"net/http"
	"sync"

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
	Certs       string // "valid", "pending 1 of 2", "failing: ..."
	WebURL      string
}

type appsPage struct{ Apps []appSummary }

func (appsPage) title() string { return "Apps" }

// getApps is the overview: every app the token may read.
func (d *Dashboard) getApps(w http.ResponseWriter, r *http.Request, s *session) {
	c := d.client(s)
	apps, err := c.ListApps(r.Context())
	if err != nil {
		d.apiError(w, r, s, err)
		return
	}
	page := appsPage{Apps: make([]appSummary, len(apps))}
	// Each row takes three calls; a few rows are read at a time, and the
	// page waits for all of them.
	sem := make(chan struct{}, summaryWorkers)
	var wg sync.WaitGroup
	for i, app := range apps {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			page.Apps[i] = summarize(r.Context(), c, app)
		}()
	}
	wg.Wait()
	d.render(w, r, http.StatusOK, "apps", s, page)
}

// summaryWorkers is how many rows of the apps page are read at once.
const summaryWorkers = 8

// summarize reads one app's row of the overview.
func summarize(ctx context.Context, c *api.Client, app api.App) appSummary {
	sum := appSummary{Name: app.Name, LiveRelease: app.LiveRelease, WebURL: app.WebURL}
	if insts, err := c.Instances(ctx, app.Name); err == nil {
		sum.Up, sum.Total = countUp(insts, app.LiveSlot)
	}
	if m, err := c.Metrics(ctx, app.Name); err == nil {
		sum.Rate, sum.ErrorRatio = traffic(m)
	}
	if certs, err := c.Certs(ctx, app.Name); err == nil {
		sum.Certs = certSummary(certs)
	}
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
