package agent

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pierhq/pier/scheduler"
)

// destroy stops every process of the app and deletes all it has: its
// store records, repository, build cache, log and certificates.
func (dp *deployer) destroy(ctx context.Context, name string) error {
	unlock, err := dp.lockApp(ctx, name, io.Discard)
	if err != nil {
		return err
	}
	defer unlock()
	hosts := appHosts(dp.store, dp.cfg, name)
	if err := dp.sched.Stop(ctx, name, ""); err != nil && !errors.Is(err, scheduler.ErrNotFound) {
		return fmt.Errorf("stopping the processes of %s: %w", name, err)
	}
	if err := dp.store.DeleteApp(name); err != nil {
		return err
	}
	dp.metrics.forget(name)
	dp.routes.refreshRoutes()
	if dp.certs != nil {
		for _, h := range hosts {
			dp.certs.Forget(h)
		}
	}
	_ = dp.git.RemoveRepo(name)
	_ = dp.dirs.removeCache(name)
	dp.logs.remove(name)
	dp.logf("destroyed app %s", name)
	return nil
}
