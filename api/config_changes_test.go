package api

import (
	"reflect"
	"testing"
)

func TestDiffConfig(t *testing.T) {
	was := map[string]string{"KEEP": "1", "GONE": "x", "ROTATED": "old-secret"}
	now := map[string]string{"KEEP": "1", "NEW": "y", "ROTATED": "new-secret"}
	got := DiffConfig(was, now)
	want := ConfigChanges{Added: []string{"NEW"}, Removed: []string{"GONE"}, Changed: []string{"ROTATED"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DiffConfig = %+v, want %+v", got, want)
	}
	if got := DiffConfig(nil, nil); got.Added == nil || got.Removed == nil || got.Changed == nil {
		t.Errorf("DiffConfig of nothing = %#v: want empty lists, not null", got)
	}
}
