// Package flags evaluates the app's feature flags. A flag is a config var
// FLAG_<NAME>=<percent>, a whole number from 0 to 100: a visitor is in the
// flag when the bucket of the flag's name and the visitor's id (0 to 99,
// the same every time) is below the percent. Raising the percent only adds
// visitors; nobody who had the flag loses it.
package flags

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"strconv"
	"strings"
)

// Prefix starts every flag's config var.
const Prefix = "FLAG_"

// NewSummary is the flag the app ships: the centroid summary instead of
// TextRank.
const NewSummary = "NEW_SUMMARY"

// Set is the flags in force and their percents.
type Set struct {
	percent map[string]int
}

// Load reads every FLAG_<NAME> of environ (os.Environ's form). A value that
// is not a whole number from 0 to 100 leaves its flag off, and warn gets
// one line saying so; nothing stops.
func Load(environ []string, warn func(format string, args ...any)) Set {
	s := Set{percent: map[string]int{}}
	for _, kv := range environ {
		key, val, _ := strings.Cut(kv, "=")
		name, ok := strings.CutPrefix(key, Prefix)
		if !ok || name == "" {
			continue
		}
		p, err := strconv.Atoi(strings.TrimSpace(val))
		if err != nil || p < 0 || p > 100 {
			warn("flags: %s=%.40q is not a whole number from 0 to 100: the flag is off (set it with pier config set %s=25)", key, val, key)
			p = 0
		}
		s.percent[name] = p
	}
	return s
}

// Percent is the share of visitors in flag name, 0 when it is not set.
func (s Set) Percent(name string) int { return s.percent[name] }

// On reports whether visitor is in flag name.
func (s Set) On(name, visitor string) bool {
	return Bucket(name, visitor) < s.percent[name]
}

// String lists the flags as NAME=P%, for the start-up log.
func (s Set) String() string {
	var out []string
	for name, p := range s.percent {
		out = append(out, name+"="+strconv.Itoa(p)+"%")
	}
	sort.Strings(out)
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, " ")
}

// Bucket is visitor's place in flag name, from 0 to 99: a hash of both, so
// a visitor in one flag is not thereby in every other flag.
func Bucket(name, visitor string) int {
	sum := sha256.Sum256([]byte(name + "\x00" + visitor))
	return int(binary.BigEndian.Uint64(sum[:8]) % 100)
}
