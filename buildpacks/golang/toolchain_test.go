package golang

import (
	"strings"
	"testing"
)

func TestPickGo(t *testing.T) {
	all := []goRelease{{1, 23, 2}, {1, 23, 0}, {1, 22, 12}, {1, 22, 5}, {1, 20, 14}, {1, 20, 0}}
	for _, tc := range []struct{ want, got, err string }{
		{"1.22", "go1.22.12", ""},
		{"go1.22", "go1.22.12", ""},
		{"go1.22.5", "go1.22.5", ""},
		{"=1.22.5", "go1.22.5", ""},
		{"1.23.0", "go1.23.0", ""},
		{"1.20", "go1.20.14", ""},
		{"1.22.6", "", "go1.22.6 is not a Go release the module proxy serves (newest: go1.23.2, go1.23.0, go1.22.12)"},
		{"1.99", "", "go1.99 is not a Go release"},
		{"banana", "", "is not a Go version"},
	} {
		r, err := pickGo(tc.want, all)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("pickGo(%q) = %v, %v; want error %q", tc.want, r, err, tc.err)
		case tc.err == "" && (err != nil || r.String() != tc.got):
			t.Errorf("pickGo(%q) = %v, %v; want %s", tc.want, r, err, tc.got)
		}
	}
}
