package agent

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sync"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

// Add-ons on Nomad: with --scheduler nomad and --addon-node NODE, an
// add-on's server is a Nomad job of its own (scheduler.AddonRunner),
// pinned to NODE, its data in that node's host volume pier-addon-NAME,
// and apps find it at the address Nomad's service catalog gives. pier
// does not reach its server from the agent: psql, redis-cli, backups and
// pier backup leave it out (docs/addons.md).

// remoteAddons is where add-ons run when not on the agent's host.
type remoteAddons struct {
	run  scheduler.AddonRunner // nil: nowhere
	node string                // the Nomad node that keeps their data
}

// defaultImageVersion is the image tag of an add-on on Nomad when
// --version is not given.
var defaultImageVersion = map[string]string{api.AddonPostgres: "16", api.AddonRedis: "7"}

var imageVersionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9]{1,3}(\.[0-9]{1,3})?$`) })

// addonRunnerOf returns the add-on runner of s, or nil when s has none.
func addonRunnerOf(s scheduler.Scheduler) scheduler.AddonRunner {
	if w, ok := s.(*swapScheduler); ok {
		s = w.get()
	}
	r, _ := s.(scheduler.AddonRunner)
	return r
}

// volumeOf is the host volume that keeps the add-on's data.
func volumeOf(name string) string { return "pier-addon-" + name }

func (as *addonService) remoteSpec(rec api.Addon) scheduler.Addon {
	return scheduler.Addon{Name: rec.Name, Type: rec.Type, Version: rec.Version, Node: as.remote.node, Volume: volumeOf(rec.Name)}
}

// createRemote runs the add-on rec on Nomad and sets its URL on app as v.
// Whatever fails undoes what was done.
func (as *addonService) createRemote(ctx context.Context, app string, rec api.Addon, version, v, password, user string, out io.Writer) (api.AddonChange, error) {
	if version == "" {
		version = defaultImageVersion[rec.Type]
	}
	if !imageVersionRE().MatchString(version) {
		as.forget(rec.Name)
		return api.AddonChange{}, invalidf("--version %q: give the image's major version, as 16 (postgres) or 7 (redis)", version)
	}
	rec, err := as.store.UpdateAddon(rec.Name, func(a *api.Addon) error { a.Version = version; return nil })
	if err != nil {
		as.forget(rec.Name)
		return api.AddonChange{}, err
	}
	url, err := as.remote.run.RunAddon(ctx, as.remoteSpec(rec), password)
	if err != nil {
		as.forget(rec.Name)
		return api.AddonChange{}, fmt.Errorf("creating %s on Nomad node %s (host volume %s): %w; nothing was kept", rec.Name, as.remote.node, volumeOf(rec.Name), err)
	}
	rel, err := as.deploy.updateConfig(ctx, app, map[string]*string{v: &url}, user, out)
	if err != nil {
		as.destroyServer(rec.Name)
		return api.AddonChange{}, fmt.Errorf("setting %s on %s: %w; %s was removed", v, app, err, rec.Name)
	}
	as.events.add(app, api.EventAddonCreated, user, "Created add-on %s (%s %s) on Nomad node %s as %s", rec.Name, rec.Type, version, as.remote.node, v)
	return api.AddonChange{Addon: as.present(rec), Releases: releases(rel)}, nil
}

// remoteURL finds the add-on on Nomad again, for an attachment.
func (as *addonService) remoteURL(ctx context.Context, rec api.Addon) (string, error) {
	pw, err := as.store.AddonPassword(rec.Name)
	if err != nil {
		return "", err
	}
	return as.remote.run.AddonURL(ctx, as.remoteSpec(rec), pw)
}
