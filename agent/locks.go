package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// errBusy is returned when an app's deploy lock could not be had in time.
var errBusy = errors.New("busy")

// lockWait bounds how long an operation waits for another one on the same app.
const lockWait = 10 * time.Minute

// lockApp serializes the deploys and other changes of one app. An operation
// that must wait says so on out; after lockWait it is refused. Taking the
// lock ends the watch of the release before, which counts as good.
func (dp *deployer) lockApp(ctx context.Context, app string, out io.Writer) (func(), error) {
	l := dp.appLock(app)
	select {
	case l <- struct{}{}:
	default:
		fmt.Fprintf(out, "-----> Another deploy of %s is in progress; waiting for it to finish...\n", app)
		t := time.NewTimer(lockWait)
		defer t.Stop()
		select {
		case l <- struct{}{}:
		case <-t.C:
			return nil, fmt.Errorf("%w: another deploy of %s has run for over %s; try again when it is done (see `pier releases -a %s`)", errBusy, app, lockWait, app)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	dp.stopWatch(app)
	return func() { <-l }, nil
}

// lockGrace is how long a promotion waits for an app's lock: enough for a
// push that has just ended to let it go, not for another deploy.
const lockGrace = 3 * time.Second

// tryLockApp takes app's deploy lock if it is free within lockGrace, and
// refuses when another deploy holds it longer: a promotion does not queue
// behind one.
func (dp *deployer) tryLockApp(ctx context.Context, app string) (func(), error) {
	l := dp.appLock(app)
	t := time.NewTimer(lockGrace)
	defer t.Stop()
	select {
	case l <- struct{}{}:
	case <-t.C:
		return nil, fmt.Errorf("%w: another deploy or promotion of %s is in progress; promote again when it is done (see `pier releases -a %s`)", errBusy, app, app)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	dp.stopWatch(app)
	return func() { <-l }, nil
}

// appLock is app's lock: a channel that holds one token while it is taken.
func (dp *deployer) appLock(app string) chan struct{} {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	l := dp.locks[app]
	if l == nil {
		l = make(chan struct{}, 1)
		dp.locks[app] = l
	}
	return l
}
