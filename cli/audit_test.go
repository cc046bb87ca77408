package cli

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

func TestAudit(t *testing.T) {
	fa := newFakeAgent(t)
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.Local)
	fa.handle("GET /v1/audit", []api.AuditEntry{
		{Time: at, Who: "ci", Via: "token", Role: "deploy", Action: "git push", App: "shop", Status: 200, ClientIP: "192.0.2.1"},
	})
	out, _ := mustPier(t, "audit", "-a", "shop", "--since", "1h", "-n", "5")
	want := "TIME                  WHO        ROLE     ACTION     APP    TARGET   STATUS   FROM\n" +
		"2030-01-02 03:04:05   token:ci   deploy   git push   shop   -        200      192.0.2.1\n"
	if out != want {
		t.Errorf("audit printed\n%q\nwant\n%q", out, want)
	}
	r := fa.only(t)
	q, _ := url.ParseQuery(r.Query)
	since, err := time.Parse(time.RFC3339, q.Get("since"))
	if q.Get("app") != "shop" || q.Get("limit") != "5" || err != nil || time.Since(since) < 59*time.Minute || time.Since(since) > 61*time.Minute {
		t.Errorf("audit asked %s?%s", r.Path, r.Query)
	}
	fa.handle("GET /v1/audit", []api.AuditEntry{
		{Time: at, Who: "pier", Via: "schedule", Action: "backup failed", Target: "s3://b/vm1", Status: 1, Detail: "the bucket \"b\" does not exist"},
	})
	out, _ = mustPier(t, "audit")
	if !strings.Contains(out, "DETAIL") || !strings.Contains(out, `schedule:pier   -      backup failed   -     s3://b/vm1   1        -      the bucket "b" does not exist`) {
		t.Errorf("audit of a scheduled backup printed\n%s", out)
	}
	if _, _, err := pier(t, "audit", "--since", "soon"); err == nil || !strings.Contains(err.Error(), "--since") {
		t.Errorf("audit --since soon: %v", err)
	}
}
