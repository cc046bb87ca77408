// Package procfile parses an app's Procfile and app.json.
package procfile

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Process is one line of a Procfile: a process type and its command.
type Process struct {
	Type    string
	Command string
}

// Procfile is the ordered list of an app's process types.
type Procfile []Process

var typeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]{1,63}$`) })

// ValidType reports whether t may name a process type: 1 to 63 letters,
// digits, - and _.
func ValidType(t string) bool { return typeRE().MatchString(t) }

// Parse reads a Procfile. Blank lines and lines starting with # are skipped;
// every other line must read "type: command". Errors name the line.
func Parse(r io.Reader) (Procfile, error) {
	var p Procfile
	seen := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, cmd, ok := strings.Cut(line, ":")
		typ, cmd = strings.TrimSpace(typ), strings.TrimSpace(cmd)
		switch {
		case !ok:
			return nil, fmt.Errorf("Procfile line %d: %q is not of the form \"type: command\"", n, line)
		case !typeRE().MatchString(typ):
			return nil, fmt.Errorf("Procfile line %d: process type %q may only hold letters, digits, - and _", n, typ)
		case cmd == "":
			return nil, fmt.Errorf("Procfile line %d: process type %q has no command", n, typ)
		}
		if first, dup := seen[typ]; dup {
			return nil, fmt.Errorf("Procfile line %d: process type %q is already defined on line %d", n, typ, first)
		}
		seen[typ] = n
		p = append(p, Process{Type: typ, Command: cmd})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading Procfile: %w", err)
	}
	return p, nil
}

// Map returns type -> command.
func (p Procfile) Map() map[string]string {
	m := make(map[string]string, len(p))
	for _, pr := range p {
		m[pr.Type] = pr.Command
	}
	return m
}

// Types returns the process types in a stable order: web first, then by name.
func Types(m map[string]string) []string {
	ts := make([]string, 0, len(m))
	for t := range m {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool {
		if (ts[i] == "web") != (ts[j] == "web") {
			return ts[i] == "web"
		}
		return ts[i] < ts[j]
	})
	return ts
}

// ReleaseType is the Procfile process type run once before a release goes live.
const ReleaseType = "release"
