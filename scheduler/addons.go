package scheduler

import "context"

// AddonRunner is the optional part of a scheduler that runs add-ons'
// servers on its cluster (nomad), where the apps' hosts are not the
// agent's. Schedulers without it leave add-ons to the agent's host.
type AddonRunner interface {
	// RunAddon starts the add-on's server with its password and returns
	// the URL apps reach it at. One that fails to start leaves nothing.
	RunAddon(ctx context.Context, a Addon, password string) (url string, err error)
	// AddonURL is the URL of a running add-on, found again.
	AddonURL(ctx context.Context, a Addon, password string) (string, error)
	// StopAddon stops the add-on's server and forgets it.
	StopAddon(ctx context.Context, name string) error
}

// Addon is an add-on's server as a scheduler runs it.
type Addon struct {
	Name    string
	Type    string // postgres | redis
	Version string // the server's major version
	// Node is the host that keeps the data, in Volume (a volume of that
	// node's).
	Node, Volume string
}
