package api

import "sort"

// ConfigChanges names the config vars that differ between two releases:
// what a rollback would change (GET /v1/apps/{app}/releases/{v}/config-changes).
// Names only: values never leave the agent.
type ConfigChanges struct {
	Added   []string `json:"added"`   // set in the later release only
	Removed []string `json:"removed"` // set in the earlier release only
	Changed []string `json:"changed"` // set in both, to different values
}

// DiffConfig compares the config vars of two releases, was and now.
func DiffConfig(was, now map[string]string) ConfigChanges {
	ch := ConfigChanges{Added: []string{}, Removed: []string{}, Changed: []string{}}
	for k, v := range now {
		old, ok := was[k]
		switch {
		case !ok:
			ch.Added = append(ch.Added, k)
		case old != v:
			ch.Changed = append(ch.Changed, k)
		}
	}
	for k := range was {
		if _, ok := now[k]; !ok {
			ch.Removed = append(ch.Removed, k)
		}
	}
	sort.Strings(ch.Added)
	sort.Strings(ch.Removed)
	sort.Strings(ch.Changed)
	return ch
}
