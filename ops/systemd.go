package ops

import (
	_ "embed"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"text/template"
)

// unitText is the systemd unit of the agent, a template over Unit.
//
//go:embed systemd/pier.service
var unitText string

// unitTemplate is parsed on first use, not at every start of the binary.
var unitTemplate = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("pier.service").Option("missingkey=error").Parse(unitText))
})

// Unit is where the service's files are on the machine it runs on.
type Unit struct {
	Binary  string // the pier binary the service runs, e.g. /usr/local/bin/pier
	EnvFile string // the agent's flags as PIER_* variables, e.g. /etc/pier/pier.env
	DataDir string // the agent's data dir, e.g. /var/lib/pier
}

// Render is the text of the systemd unit for u. Every path must be
// absolute and free of characters systemd would read specially.
func (u Unit) Render() (string, error) {
	for _, p := range []struct{ name, path string }{{"binary", u.Binary}, {"env file", u.EnvFile}, {"data dir", u.DataDir}} {
		if !filepath.IsAbs(p.path) || strings.ContainsAny(p.path, " \t\n\"'\\$%;") {
			return "", fmt.Errorf("the %s %q must be an absolute path without spaces, quotes, $, %% or ;", p.name, p.path)
		}
	}
	var b strings.Builder
	if err := unitTemplate().Execute(&b, u); err != nil {
		return "", err
	}
	return b.String(), nil
}
