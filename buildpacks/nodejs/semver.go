package nodejs

import (
	"fmt"
	"strconv"
	"strings"
)

// version is major.minor.patch.
type version [3]int

func parseVersion(s string) (version, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "v")
	s, _, _ = strings.Cut(s, "-") // prerelease tags do not matter here
	var v version
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return v, fmt.Errorf("%q is not a version", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, fmt.Errorf("%q is not a version", s)
		}
		v[i] = n
	}
	return v, nil
}

func (v version) cmp(w version) int {
	for i := range v {
		if v[i] != w[i] {
			if v[i] < w[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v[0], v[1], v[2]) }

// satisfies reports whether v meets an npm semver range: "||" between
// alternatives, whitespace between comparators, each one of =, <, <=, >,
// >=, ^, ~ or an x-range ("20", "20.x", "*"), and "A - B" hyphen ranges.
func satisfies(v version, rng string) (bool, error) {
	for _, alt := range strings.Split(rng, "||") {
		ok, err := satisfiesAll(v, strings.Fields(alt))
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func satisfiesAll(v version, comps []string) (bool, error) {
	if len(comps) == 3 && comps[1] == "-" {
		comps = []string{">=" + comps[0], "<=" + comps[2]}
	}
	for _, c := range comps {
		ok, err := satisfiesOne(v, c)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func satisfiesOne(v version, c string) (bool, error) {
	op := ""
	for _, o := range []string{">=", "<=", ">", "<", "=", "^", "~"} {
		if strings.HasPrefix(c, o) {
			op, c = o, strings.TrimSpace(c[len(o):])
			break
		}
	}
	lo, n, err := partial(c)
	if err != nil {
		return false, err
	}
	hi := upper(lo, n) // first version past the x-range
	switch op {
	case ">=":
		return v.cmp(lo) >= 0, nil
	case ">":
		return v.cmp(hi) >= 0, nil
	case "<=":
		return v.cmp(hi) < 0, nil
	case "<":
		return v.cmp(lo) < 0, nil
	case "^":
		return v.cmp(lo) >= 0 && v.cmp(caretUpper(lo, n)) < 0, nil
	case "~":
		if n > 2 {
			n = 2
		}
		return v.cmp(lo) >= 0 && v.cmp(upper(lo, n)) < 0, nil
	}
	return v.cmp(lo) >= 0 && v.cmp(hi) < 0, nil
}

// partial parses "20", "20.1", "20.1.3", "20.x", "*": the version with
// missing parts as 0 and how many parts were given.
func partial(s string) (version, int, error) {
	var v version
	s = strings.TrimPrefix(s, "v")
	if s == "" || s == "*" || s == "x" || s == "X" {
		return v, 0, nil
	}
	s, _, _ = strings.Cut(s, "-")
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return v, 0, fmt.Errorf("%q is not a version range", s)
	}
	n := 0
	for i, p := range parts {
		if p == "x" || p == "X" || p == "*" {
			break
		}
		x, err := strconv.Atoi(p)
		if err != nil {
			return v, 0, fmt.Errorf("%q is not a version range", s)
		}
		v[i] = x
		n++
	}
	return v, n, nil
}

// upper is the first version past lo when only n parts are fixed.
func upper(lo version, n int) version {
	switch n {
	case 0:
		return version{1 << 30}
	case 1:
		return version{lo[0] + 1}
	case 2:
		return version{lo[0], lo[1] + 1}
	}
	return version{lo[0], lo[1], lo[2] + 1}
}

// caretUpper: ^1.2.3 allows <2.0.0, ^0.2.3 <0.3.0, ^0.0.3 <0.0.4.
func caretUpper(lo version, n int) version {
	switch {
	case lo[0] > 0 || n <= 1:
		return upper(lo, 1)
	case lo[1] > 0 || n == 2:
		return upper(lo, 2)
	}
	return upper(lo, 3)
}
