package procfile

import (
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// AppJSON is the part of app.json (Heroku's and Dokku's schema) pier uses.
type AppJSON struct {
	Name         string                    `json:"name,omitempty"`
	Scripts      Scripts                   `json:"scripts,omitempty"`
	Healthchecks map[string][]Healthcheck  `json:"healthchecks,omitempty"`
	Formation    map[string]FormationEntry `json:"formation,omitempty"`
	Buildpacks   []BuildpackRef            `json:"buildpacks,omitempty"`
}

// Scripts are hooks around a deploy. Dokku's predeploy runs like the
// Procfile release command.
type Scripts struct {
	Dokku      DokkuScripts `json:"dokku,omitempty"`
	Postdeploy string       `json:"postdeploy,omitempty"`
}

type DokkuScripts struct {
	Predeploy  string `json:"predeploy,omitempty"`
	Postdeploy string `json:"postdeploy,omitempty"`
}

// Healthcheck is one check of Dokku's schema. Times are in seconds.
type Healthcheck struct {
	Type         string `json:"type,omitempty"` // startup, liveness, readiness
	Name         string `json:"name,omitempty"`
	Path         string `json:"path,omitempty"`
	Content      string `json:"content,omitempty"` // the body must contain it
	Timeout      int    `json:"timeout,omitempty"`
	Attempts     int    `json:"attempts,omitempty"`
	Wait         int    `json:"wait,omitempty"`
	InitialDelay int    `json:"initialDelay,omitempty"`
	Port         int    `json:"port,omitempty"`
}

// TimeoutDuration is Timeout as a duration, 5 s when unset.
func (h Healthcheck) TimeoutDuration() time.Duration { return secs(h.Timeout, 5) }

// WaitDuration is Wait as a duration, 1 s when unset.
func (h Healthcheck) WaitDuration() time.Duration { return secs(h.Wait, 1) }

func secs(n, def int) time.Duration {
	if n <= 0 {
		n = def
	}
	return time.Duration(n) * time.Second
}

// FormationEntry is the default count (and size) of a process type.
type FormationEntry struct {
	Quantity *int   `json:"quantity,omitempty"`
	Size     string `json:"size,omitempty"`
}

// BuildpackRef names a buildpack: a built-in name ("go"), or a URL or path
// of a classic Heroku buildpack.
type BuildpackRef struct {
	URL string `json:"url"`
}

// ParseAppJSON reads app.json.
func ParseAppJSON(r io.Reader) (*AppJSON, error) {
	var a AppJSON
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("app.json: %w", err)
	}
	for typ, hcs := range a.Healthchecks {
		for i, h := range hcs {
			if h.Attempts < 0 || h.Timeout < 0 || h.Wait < 0 || h.InitialDelay < 0 {
				return nil, fmt.Errorf("app.json: healthchecks.%s[%d]: negative numbers are not allowed", typ, i)
			}
			if h.Path != "" && h.Path[0] != '/' {
				return nil, fmt.Errorf("app.json: healthchecks.%s[%d]: path %q must start with /", typ, i, h.Path)
			}
		}
	}
	for typ, f := range a.Formation {
		if f.Quantity != nil && *f.Quantity < 0 {
			return nil, fmt.Errorf("app.json: formation.%s.quantity must not be negative", typ)
		}
	}
	return &a, nil
}

// WebHealthchecks returns the checks for the web process that gate a deploy
// (startup and readiness checks, or untyped ones).
func (a *AppJSON) WebHealthchecks() []Healthcheck {
	if a == nil {
		return nil
	}
	var out []Healthcheck
	for _, h := range a.Healthchecks["web"] {
		if h.Type == "" || h.Type == "startup" || h.Type == "readiness" {
			out = append(out, h)
		}
	}
	return out
}
