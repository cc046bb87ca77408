package agent

import (
	"strings"
	"testing"
)

func TestCheckConfigChanges(t *testing.T) {
	for _, tt := range []struct {
		name    string
		changes map[string]*string
		want    string // "" for accepted
	}{
		{"a value at the limit", map[string]*string{"BIG": sp(strings.Repeat("x", maxConfigValue))}, ""},
		{"an unset", map[string]*string{"GONE": nil}, ""},
		{"nothing", map[string]*string{}, "no config vars given"},
		{"a 40 KB value", map[string]*string{"BIG": sp(strings.Repeat("x", 40<<10))}, "the value of BIG is 40.0 KB (40960 bytes), over the limit of 32.0 KB (32768 bytes)"},
		{"a NUL in a value", map[string]*string{"TOKEN": sp("ab\x00cd")}, "the value of TOKEN contains a NUL byte"},
		{"a NUL in a key", map[string]*string{"A\x00B": sp("1")}, `"A\x00B" is not a valid config var name`},
		{"an = in a key", map[string]*string{"A=B": sp("1")}, `"A=B" is not a valid config var name`},
		{"a dash in a key", map[string]*string{"MY-KEY": sp("1")}, `"MY-KEY" is not a valid config var name`},
		{"a digit first", map[string]*string{"1KEY": sp("1")}, "not starting with a digit"},
		{"an empty key", map[string]*string{"": sp("1")}, `"" is not a valid config var name`},
		{"a long bad key", map[string]*string{strings.Repeat("-", 1000): sp("1")}, `"... is not a valid config var name`},
		{"a reserved key", map[string]*string{"PORT": sp("1")}, "PORT is set by pier"},
	} {
		err := checkConfigChanges(tt.changes)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v, want it accepted", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v, want it refused with %q", tt.name, err, tt.want)
		case tt.want != "" && statusOf(err) != 400:
			t.Errorf("%s: status %d, want 400", tt.name, statusOf(err))
		case err != nil && len(err.Error()) > 500:
			t.Errorf("%s: a message of %d bytes", tt.name, len(err.Error()))
		}
	}
}

func TestCheckConfigTotal(t *testing.T) {
	third := strings.Repeat("x", 12<<10)
	over := map[string]string{"A": third, "B": third, "CERT": third + "y", "SMALL": "1"}
	err := checkConfigTotal("hello", over, []string{"CERT"})
	for _, want := range []string{"hello would hold 36.0 KB (36877 bytes) together", "limit of 32.0 KB (32768 bytes)", "the largest: CERT 12.0 KB, A 12.0 KB, B 12.0 KB", "pier config unset -a hello KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("36 KB of vars: %v, want it refused with %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "xxx") {
		t.Errorf("the message holds a value: %.300s", err)
	}
	if statusOf(err) != 400 {
		t.Errorf("status %d, want 400", statusOf(err))
	}
	if err := checkConfigTotal("hello", over, nil); err != nil {
		t.Errorf("a change that only unsets, still over the limit: %v, want it accepted", err)
	}
	atLimit := map[string]string{"A": strings.Repeat("x", maxConfigTotal-1)}
	if err := checkConfigTotal("hello", atLimit, []string{"A"}); err != nil {
		t.Errorf("vars of exactly %d bytes: %v, want them accepted", maxConfigTotal, err)
	}
}
