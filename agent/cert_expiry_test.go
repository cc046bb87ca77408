package agent

import (
	"testing"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/proxy/certs"
)

func TestCertExpiringIsToldOncePerCertificate(t *testing.T) {
	st := newTestStore(t, "blog")
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	soon, later := now.Add(10*24*time.Hour), now.Add(60*24*time.Hour)
	notAfter := map[string]time.Time{"blog.example.com": soon, "www.blog.example.com": later}
	w := &certExpiryWatcher{
		apps: func() map[string][]string {
			return map[string][]string{"blog": {"blog.example.com", "www.blog.example.com"}}
		},
		status: func(hosts ...string) []certs.Status {
			var out []certs.Status
			for _, h := range hosts {
				out = append(out, certs.Status{Host: h, NotAfter: notAfter[h], LastError: "acme: rate limited"})
			}
			return out
		},
		events: &eventLog{store: st, logs: nil, logf: t.Logf},
	}
	w.events.logs, _ = newLogbook(t.TempDir())
	w.check(now)
	w.check(now.Add(time.Hour)) // the same certificate: told once
	es, _ := st.Events("blog", 0)
	if len(es) != 1 || es[0].Type != api.EventCertExpiring || es[0].Data["domain"] != "blog.example.com" || es[0].Data["reason"] != "acme: rate limited" {
		t.Fatalf("events %+v, want one cert.expiring of blog.example.com", es)
	}
	notAfter["blog.example.com"] = soon.Add(time.Hour) // another certificate, still not renewed in time
	w.check(now.Add(2 * time.Hour))
	if es, _ := st.Events("blog", 0); len(es) != 2 {
		t.Errorf("a new certificate near its end was not told: %+v", es)
	}
}
