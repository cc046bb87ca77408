package store

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest name of a token or an SSH key, in characters.
const MaxNameLen = 64

// CheckName reports why name cannot name a token or an SSH key (what says
// which), or nil. A name is 1 to MaxNameLen characters of valid UTF-8
// without control characters or line separators: it is written into log
// lines and tables, where such characters could forge lines.
func CheckName(what, name string) error {
	switch n := utf8.RuneCountInString(name); {
	case name == "" || strings.TrimSpace(name) == "":
		return invalid("the %s needs a name", what)
	case n > MaxNameLen:
		return invalid("the %s name may be at most %d characters, not %d", what, MaxNameLen, n)
	case !utf8.ValidString(name):
		return invalid("the %s name must be UTF-8 text", what)
	}
	for _, r := range name {
		if unsafeRune(r) {
			return invalid("the %s name may not hold control characters (%q)", what, r)
		}
	}
	return nil
}

// unsafeRune reports a control character or a line or paragraph separator.
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}
