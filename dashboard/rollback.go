package dashboard

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/pierhq/pier/api"
)

// releaseDiff is what a rollback would change, live release against the
// target: never config values, only their names.
type releaseDiff struct {
	App              string
	Live, Target     api.Release
	CommitFrom       string
	CommitTo         string
	KeysAdded        []string // in the target, not live
	KeysRemoved      []string // live, not in the target
	KeysChanged      []string // in both, with another value in the target
	ProcessesChanged []string // "web: A → B", "worker: added"
	BuildpackChanged bool
	CanDeploy        bool
	AlreadyLive      bool
}

func (p releaseDiff) title() string {
	return fmt.Sprintf("Roll %s back to v%d", p.App, p.Target.Version)
}

// diffReleases compares live with target.
func diffReleases(live, target api.Release) releaseDiff {
	d := releaseDiff{App: target.App, Live: live, Target: target, CommitFrom: live.Commit, CommitTo: target.Commit}
	for _, k := range target.ConfigKeys {
		if !slices.Contains(live.ConfigKeys, k) {
			d.KeysAdded = append(d.KeysAdded, k)
		}
	}
	for _, k := range live.ConfigKeys {
		if !slices.Contains(target.ConfigKeys, k) {
			d.KeysRemoved = append(d.KeysRemoved, k)
		}
	}
	for _, t := range sortedKeys(unionKeys(live.Processes, target.Processes)) {
		from, inLive := live.Processes[t]
		to, inTarget := target.Processes[t]
		switch {
		case !inLive:
			d.ProcessesChanged = append(d.ProcessesChanged, t+": added ("+to+")")
		case !inTarget:
			d.ProcessesChanged = append(d.ProcessesChanged, t+": removed")
		case from != to:
			d.ProcessesChanged = append(d.ProcessesChanged, t+": "+from+" → "+to)
		}
	}
	d.BuildpackChanged = live.Buildpack != target.Buildpack
	d.AlreadyLive = live.Version == target.Version
	return d
}

func unionKeys(a, b map[string]string) map[string]string {
	u := map[string]string{}
	for k := range a {
		u[k] = ""
	}
	for k := range b {
		u[k] = ""
	}
	return u
}

// targetOf reads the release version of the path and finds it, with the
// live one.
func (d *Dashboard) targetOf(w http.ResponseWriter, r *http.Request, s *session) (releaseDiff, bool) {
	app := r.PathValue("app")
	v, err := strconv.Atoi(strings.TrimPrefix(r.PathValue("version"), "v"))
	if err != nil || v < 1 {
		d.renderError(w, r, s, http.StatusNotFound, fmt.Sprintf("%q is not a release of %s: releases are v1, v2, ...", r.PathValue("version"), app))
		return releaseDiff{}, false
	}
	c := d.client(s)
	a, err := c.GetApp(r.Context(), app)
	if err != nil {
		d.apiError(w, r, s, err)
		return releaseDiff{}, false
	}
	rels, err := c.Releases(r.Context(), app)
	if err != nil {
		d.apiError(w, r, s, err)
		return releaseDiff{}, false
	}
	target := releaseOf(rels, v)
	if target == nil {
		d.renderError(w, r, s, http.StatusNotFound, fmt.Sprintf("%s has no release v%d.", app, v))
		return releaseDiff{}, false
	}
	var live api.Release
	if l := releaseOf(rels, a.LiveRelease); l != nil {
		live = *l
	}
	diff := diffReleases(live, *target)
	diff.App = app
	if live.Version > 0 && !diff.AlreadyLive {
		// The agent compares the values; the names come back, never a value.
		ch, err := c.ConfigChanges(r.Context(), app, live.Version, target.Version)
		if err != nil {
			d.apiError(w, r, s, err)
			return releaseDiff{}, false
		}
		diff.KeysAdded, diff.KeysRemoved, diff.KeysChanged = ch.Added, ch.Removed, ch.Changed
	}
	diff.CanDeploy = s.may(api.RoleDeploy, app)
	return diff, true
}

// getRollback shows what rolling back to the release would change, and
// the button that does it.
func (d *Dashboard) getRollback(w http.ResponseWriter, r *http.Request, s *session) {
	if diff, ok := d.targetOf(w, r, s); ok {
		d.render(w, r, http.StatusOK, "rollback", s, diff)
	}
}

// postRollback rolls back through the API, as `pier rollback -a APP vN`.
func (d *Dashboard) postRollback(w http.ResponseWriter, r *http.Request, s *session) {
	diff, ok := d.targetOf(w, r, s)
	if !ok {
		return
	}
	if _, err := d.client(s).Rollback(r.Context(), diff.App, diff.Target.Version); err != nil {
		d.apiError(w, r, s, err)
		return
	}
	http.Redirect(w, r, appURL(diff.App), http.StatusSeeOther)
}
