package dashboard

import (
	"testing"

	"github.com/pierhq/pier/api"
)

func TestCertSummary(t *testing.T) {
	for _, c := range []struct {
		certs []api.Cert
		want  string
	}{
		{nil, "none (HTTP)"},
		{[]api.Cert{{Host: "a", Status: "valid"}, {Host: "b", Status: "valid"}}, "valid"},
		{[]api.Cert{{Host: "a", Status: "off"}}, "HTTPS off"},
		{[]api.Cert{{Host: "a", Status: "valid"}, {Host: "b", Status: "pending"}}, "pending"},
		{[]api.Cert{{Host: "a", Status: "valid"}, {Host: "b", Status: "failing"}}, "failing: b"},
	} {
		if got := certSummary(c.certs); got != c.want {
			t.Errorf("certSummary(%+v) = %q, want %q", c.certs, got, c.want)
		}
	}
}

func TestAppStatus(t *testing.T) {
	for _, c := range []struct {
		app       api.App
		up, total int
		want      string
	}{
		{api.App{}, 0, 0, "not deployed"},
		{api.App{LiveRelease: 2, Maintenance: true}, 1, 1, "maintenance"},
		{api.App{LiveRelease: 2}, 2, 2, "running"},
		{api.App{LiveRelease: 2}, 1, 2, "degraded"},
		{api.App{LiveRelease: 2}, 0, 2, "down"},
	} {
		if got := appStatus(c.app, c.up, c.total); got != c.want {
			t.Errorf("appStatus(%+v, %d, %d) = %q, want %q", c.app, c.up, c.total, got, c.want)
		}
	}
}

func TestPagesOfReleases(t *testing.T) {
	var rels []api.Release
	for v := 1; v <= 45; v++ {
		rels = append(rels, api.Release{Version: v})
	}
	var p appPage
	p.pageReleases(rels, "3")
	if p.PageNum != 3 || len(p.Releases) != 5 || p.Releases[0].Version != 5 || p.PrevPage != 2 || p.NextPage != 0 {
		t.Errorf("page 3 of 45 releases: page %d, %d releases from v%d, prev %d, next %d", p.PageNum, len(p.Releases), p.Releases[0].Version, p.PrevPage, p.NextPage)
	}
	p.pageReleases(rels, "nonsense")
	if p.PageNum != 1 || p.Releases[0].Version != 45 || p.NextPage != 2 {
		t.Errorf("a bad page number: page %d from v%d", p.PageNum, p.Releases[0].Version)
	}
	p.pageReleases(nil, "")
	if len(p.Releases) != 0 || p.NextPage != 0 {
		t.Errorf("no releases: %+v", p)
	}
}

func TestDiffReleasesNamesKeysNeverValues(t *testing.T) {
	live := api.Release{Version: 5, Commit: "bbb", Buildpack: "go", ConfigKeys: []string{"A", "NEW"}, Processes: map[string]string{"web": "srv", "worker": "w"}}
	target := api.Release{Version: 2, Commit: "aaa", Buildpack: "procfile", ConfigKeys: []string{"A", "OLD"}, Processes: map[string]string{"web": "srv --old"}}
	d := diffReleases(live, target)
	if d.CommitFrom != "bbb" || d.CommitTo != "aaa" || !d.BuildpackChanged {
		t.Errorf("diff = %+v", d)
	}
	if len(d.KeysAdded) != 1 || d.KeysAdded[0] != "OLD" || len(d.KeysRemoved) != 1 || d.KeysRemoved[0] != "NEW" {
		t.Errorf("keys added %v, removed %v", d.KeysAdded, d.KeysRemoved)
	}
	if len(d.ProcessesChanged) != 2 || d.ProcessesChanged[0] != "web: srv → srv --old" || d.ProcessesChanged[1] != "worker: removed" {
		t.Errorf("processes %q", d.ProcessesChanged)
	}
}
