package agent

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/pierhq/pier/api"
)

// Limits of an app's config vars, checked where they enter. Heroku allows
// 32 KB for all of an app's keys and values together; one value is bounded
// the same, so that its message names it. Both stay far below what Linux
// passes to a new process (128 KB in one variable, some MB in all), so an
// accepted config can always be started.
const (
	maxConfigValue = 32 << 10
	maxConfigTotal = 32 << 10
)

var configKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// reservedVars are set by pier for every process and cannot be configured.
var reservedVars = map[string]bool{"PORT": true, "DYNO": true, "PIER_APP": true, "PIER_RELEASE": true, "PIER_SLOT": true,
	"PIER_COMMIT": true, "PIER_RELEASE_CREATED_AT": true, "SOURCE_VERSION": true}

// checkConfigChanges refuses names and values that no process environment
// can hold, and values over maxConfigValue. A nil value unsets its key.
func checkConfigChanges(changes map[string]*string) error {
	if len(changes) == 0 {
		return invalidf("no config vars given: use `pier config set KEY=VALUE`")
	}
	for _, k := range sortedKeys(changes) {
		if !configKeyRE().MatchString(k) {
			return invalidf("%s is not a valid config var name: use letters, digits and _, not starting with a digit", quoteName(k))
		}
		if reservedVars[k] {
			return invalidf("%s is set by pier for every process and cannot be configured", k)
		}
		v := changes[k]
		if v == nil {
			continue
		}
		if strings.IndexByte(*v, 0) >= 0 {
			return invalidf("the value of %s contains a NUL byte, which no process environment can hold: remove it, or encode binary data (base64)", k)
		}
		if len(*v) > maxConfigValue {
			return invalidf("the value of %s is %s (%d bytes), over the limit of %s (%d bytes) for a config var: keep large data in a file of the app or in a data store, and its location in config",
				k, humanBytes(int64(len(*v))), len(*v), humanBytes(maxConfigValue), maxConfigValue)
		}
	}
	return nil
}

// checkConfigTotal refuses vars, the app's config after a change that set
// some, when their keys and values together are over maxConfigTotal. A
// change that only unsets always passes, so that an app over the limit
// (its config set before there was one) can get under it.
func checkConfigTotal(app string, vars map[string]string, set []string) error {
	total := configSize(vars)
	if len(set) == 0 || total <= maxConfigTotal {
		return nil
	}
	return invalidf("the config vars of %s would hold %s (%d bytes) together, keys and values, over the limit of %s (%d bytes) for an app (the largest: %s): unset what it no longer needs (`pier config unset -a %s KEY`), or keep large data in a file of the app or in a data store",
		app, humanBytes(int64(total)), total, humanBytes(maxConfigTotal), maxConfigTotal, largestVars(vars, 3), app)
}

// configSize is the size of vars as the limits count it: keys and values.
func configSize(vars map[string]string) int {
	n := 0
	for k, v := range vars {
		n += len(k) + len(v)
	}
	return n
}

// largestVars names the n largest of vars with their sizes, never values.
func largestVars(vars map[string]string, n int) string {
	keys := sortedKeys(vars)
	sort.SliceStable(keys, func(i, j int) bool { return len(vars[keys[i]]) > len(vars[keys[j]]) })
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %s", k, humanBytes(int64(len(k)+len(vars[k])))))
	}
	return strings.Join(parts, ", ")
}

// quoteName quotes a name for a message, cut short when it is long.
func quoteName(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q...", s[:64])
	}
	return fmt.Sprintf("%q", s)
}

// over the limits (configvars.go) are refused before anything changes.
func (dp *deployer) updateConfig(ctx context.Context, name string, changes map[string]*string, user string, out io.Writer) (api.Release, error) {
	if err := checkConfigChanges(changes); err != nil {
		return api.Release{}, err
	}
	unlock, err := dp.lockApp(ctx, name, out)
	if err != nil {
		return api.Release{}, err
	}
	defer unlock()
	app, err := dp.store.GetApp(name)
	if err != nil {
		return api.Release{}, err
	}
	vars, err := dp.store.Config(name)
	if err != nil {
		return api.Release{}, err
	}
	if vars == nil {
		vars = map[string]string{}
	}
	var set, unset []string
	for k, v := range changes {
		if v == nil {
			if _, ok := vars[k]; ok {
				delete(vars, k)
				unset = append(unset, k)
			}
			continue
		}
		if old, ok := vars[k]; !ok || old != *v {
			vars[k] = *v
			set = append(set, k)
		}
	}
	// Names lost with the secret key are known again once set or unset.
	var again []string
	for k := range changes {
		if slices.Contains(app.LostConfig, k) {
			again = append(again, k)
		}
	}
	if len(set)+len(unset) == 0 {
		dp.setAgain(name, again)
		if app.LiveRelease == 0 {
			return api.Release{}, nil
		}
		return dp.store.GetRelease(name, app.LiveRelease)
	}
	if err := checkConfigTotal(name, vars, set); err != nil {
		return api.Release{}, err
	}
	desc := configDescription(set, unset)
	if app.LiveRelease == 0 {
		// Nothing runs yet: the vars apply from the first deploy on.
		if err := dp.store.SetConfig(name, vars); err != nil {
			return api.Release{}, err
		}
		dp.events.addData(name, api.EventConfigChanged, user, configEventData(set, unset, 0), "%s", desc)
		dp.setAgain(name, again)
		return api.Release{}, nil
	}
	live, err := dp.store.GetRelease(name, app.LiveRelease)
	if err != nil {
		return api.Release{}, err
	}
	rel, err := dp.store.CreateRelease(api.Release{
		App:         name,
		Description: desc,
		Status:      api.StatusPending,
		Commit:      live.Commit,
		SlugID:      live.SlugID,
		Buildpack:   live.Buildpack,
		Processes:   live.Processes,
		CreatedBy:   user,
	}, vars)
	if err != nil {
		return api.Release{}, err
	}
	dp.releaseCreated(rel)
	if err := dp.deployRelease(ctx, app, rel, vars, out); err != nil {
		return api.Release{}, err
	}
	dp.metrics.deployEnded(name, deploySucceeded, "config")
	if err := dp.store.SetConfig(name, vars); err != nil {
		return api.Release{}, err
	}
	dp.events.addData(name, api.EventConfigChanged, user, configEventData(set, unset, rel.Version), "%s", desc)
	dp.setAgain(name, again)
	return dp.store.GetRelease(name, rel.Version)
}

// configEventData are the facts of a config.changed event: the NAMES of
// the vars set and unset (never a value) and the release made, if any.
func configEventData(set, unset []string, release int) api.EventData {
	names := func(ks ...[]string) string {
		all := slices.Concat(ks...)
		slices.Sort(all)
		return strings.Join(all, ",")
	}
	d := api.EventData{"keys": names(set, unset)}
	if len(set) > 0 {
		d["set"] = names(set)
	}
	if len(unset) > 0 {
		d["unset"] = names(unset)
	}
	if release > 0 {
		d["release"] = releaseName(release)
	}
	return d
}

// setAgain records that config vars lost with the secret key were set or
// unset again.
func (dp *deployer) setAgain(app string, names []string) {
	if len(names) == 0 {
		return
	}
	if err := dp.store.SetAgain(app, names); err != nil {
		dp.logf("config of %s: %v", app, err)
	}
}

func configDescription(set, unset []string) string {
	sort.Strings(set)
	sort.Strings(unset)
	var parts []string
	if len(set) > 0 {
		parts = append(parts, "Set "+strings.Join(set, ", "))
	}
	if len(unset) > 0 {
		parts = append(parts, "Unset "+strings.Join(unset, ", "))
	}
	return strings.Join(parts, "; ")
}
