package agent

import (
	"context"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy/certs"
)

// Certificates are renewed a month before they end; one that has two
// weeks or less left was not, and a cert.expiring event says so, once per
// certificate.
const (
	certExpiringWithin = 14 * 24 * time.Hour
	certExpiryTick     = time.Hour
)

// certExpiryWatcher looks at every app's certificates every hour.
type certExpiryWatcher struct {
	apps   func() map[string][]string // app -> its hosts
	status func(hosts ...string) []certs.Status
	events *eventLog
	told   map[string]time.Time // host -> the NotAfter already reported
}

func (w *certExpiryWatcher) run(ctx context.Context) {
	t := time.NewTicker(certExpiryTick)
	defer t.Stop()
	for {
		w.check(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *certExpiryWatcher) check(now time.Time) {
	if w.told == nil {
		w.told = map[string]time.Time{}
	}
	for app, hosts := range w.apps() {
		for _, s := range w.status(hosts...) {
			if s.NotAfter.IsZero() || s.NotAfter.Sub(now) > certExpiringWithin || w.told[s.Host].Equal(s.NotAfter) {
				continue
			}
			w.told[s.Host] = s.NotAfter
			data := api.EventData{"domain": s.Host, "expires": s.NotAfter.UTC().Format(time.RFC3339)}
			if s.LastError != "" {
				data["reason"] = s.LastError
			}
			w.events.addData(app, api.EventCertExpiring, "", data, "Certificate of %s expires %s and was not renewed yet",
				s.Host, s.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}

// appsHosts maps every app to its hosts.
func (a *Agent) appsHosts() map[string][]string {
	out := map[string][]string{}
	apps, err := a.store.ListApps()
	if err != nil {
		return out
	}
	for _, app := range apps {
		out[app.Name] = appHosts(a.store, a.cfg, app.Name)
	}
	return out
}
