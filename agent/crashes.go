package agent

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pierhq/pier/api"
	"github.com/pierhq/pier/scheduler"
)

// crashTick is how often the crash watcher asks the local scheduler what
// runs; crashTickNomad, Nomad's, where each look costs the cluster a few
// API calls per app.
const (
	crashTick      = 2 * time.Second
	crashTickNomad = 15 * time.Second
)

// crashWatcher turns what the scheduler reports of instances into events:
// instance.crashed when one crashed (its restarts grew, or it stays
// crashed), instance.oom_killed when it was killed over its memory limit.
// It keeps only the last counts of the instances it saw.
type crashWatcher struct {
	dp    *deployer
	every time.Duration             // how often it looks
	seen  map[string]instanceCounts // by app/slot/name/id
}

type instanceCounts struct {
	restarts, ooms int
	crashed        bool
}

// run watches until ctx is done.
func (cw *crashWatcher) run(ctx context.Context) {
	cw.seen = map[string]instanceCounts{}
	t := time.NewTicker(cw.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cw.scan(ctx)
	}
}

func (cw *crashWatcher) scan(ctx context.Context) {
	apps, err := cw.dp.store.ListApps()
	if err != nil {
		return
	}
	now := map[string]instanceCounts{}
	for _, app := range apps {
		if app.LiveRelease == 0 {
			continue
		}
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		insts, err := cw.dp.sched.Instances(actx, app.Name)
		cancel()
		if err != nil {
			// Not known this time: keep what was seen, report nothing.
			for k, v := range cw.seen {
				if strings.HasPrefix(k, app.Name+"/") {
					now[k] = v
				}
			}
			continue
		}
		for _, in := range insts {
			key := fmt.Sprintf("%s/%s/%s/%s", in.App, in.Slot, in.Name(), in.ID)
			c := instanceCounts{restarts: in.Restarts, ooms: in.OOMKills, crashed: in.State == api.StateCrashed}
			now[key] = c
			if before, ok := cw.seen[key]; ok {
				cw.report(in, before, c)
			}
		}
	}
	cw.seen = now
}

// report records what changed between two looks at an instance.
func (cw *crashWatcher) report(in scheduler.Instance, before, now instanceCounts) {
	data := api.EventData{"release": releaseName(in.Release), "instance": in.Name(), "slot": in.Slot}
	switch {
	case now.ooms > before.ooms:
		data["reason"] = "R15: memory quota vastly exceeded"
		cw.dp.events.addData(in.App, api.EventInstanceOOMKilled, "", data,
			"%s of v%d was killed over its memory limit (R15) and restarted", in.Name(), in.Release)
	case now.restarts > before.restarts || now.crashed && !before.crashed:
		data["reason"] = "the process exited"
		cw.dp.events.addData(in.App, api.EventInstanceCrashed, "", data,
			"%s of v%d crashed (see `pier logs -a %s -p %s`)", in.Name(), in.Release, in.App, in.Type)
	}
}
