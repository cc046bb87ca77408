package cli

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/pierhq/pier/api"
)

func TestParseFormation(t *testing.T) {
	good := []struct {
		args []string
		want map[string]int
		mem  []string
	}{
		{[]string{"web=3", "worker=1"}, map[string]int{"web": 3, "worker": 1}, nil},
		{[]string{"web=0"}, map[string]int{"web": 0}, nil},
		{[]string{"web=2:512M", "clock=1:1G"}, map[string]int{"web": 2, "clock": 1}, []string{"web=512M", "clock=1G"}},
	}
	for _, c := range good {
		f, mem, err := parseFormation(c.args)
		if err != nil || !reflect.DeepEqual(f, c.want) || !reflect.DeepEqual(mem, c.mem) {
			t.Errorf("parseFormation(%v) = %v, %v, %v; want %v, %v", c.args, f, mem, err, c.want, c.mem)
		}
	}
	bad := []struct{ arg, want string }{
		{"web=-1", "whole number, 0 or more"},
		{"web=x", "whole number, 0 or more"},
		{"web=", "whole number, 0 or more"},
		{"=3", "is not TYPE=N"},
		{"web", "is not TYPE=N"},
		{"we b=1", "is not TYPE=N"},
		{"web=1:lots", "memory must be a size"},
	}
	for _, c := range bad {
		if _, _, err := parseFormation([]string{c.arg}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("parseFormation(%q) error %v, want one saying %q", c.arg, err, c.want)
		}
	}
	if _, _, err := parseFormation([]string{"web=1", "web=2"}); err == nil {
		t.Error("a type given twice was accepted")
	}
}

func TestScale(t *testing.T) {
	fa := newFakeAgent(t)
	fa.handle("POST /v1/apps/hello/scale", api.App{Name: "hello", Formation: map[string]int{"web": 3, "worker": 1}, MemoryMB: map[string]int{"worker": 256}})
	for _, args := range [][]string{{"web=-1"}, {"web=x"}, {"=3"}, {}, {"web=2", "-a", "other"}} {
		if _, _, err := pier(t, append([]string{"scale", "-a", "hello"}, args...)...); err == nil {
			t.Errorf("scale %v: no error", args)
		}
	}
	if rs := fa.requests(); len(rs) != 0 {
		t.Fatalf("bad scale arguments reached the agent: %+v", rs)
	}
	out, errOut := mustPier(t, "scale", "-a", "hello", "web=3", "worker=1:256M")
	var body api.ScaleRequest
	if err := json.Unmarshal(fa.only(t).Body, &body); err != nil || !reflect.DeepEqual(body.Formation, map[string]int{"web": 3, "worker": 1}) {
		t.Errorf("scale sent %s (%v)", fa.only(t).Body, err)
	}
	if !reflect.DeepEqual(body.Memory, map[string]int{"worker": 256}) {
		t.Errorf("scale sent memory %v, want worker=256 MiB", body.Memory)
	}
	if out != "web=3 worker=1:256M\n" || !strings.Contains(errOut, "Scaling hello to web=3 worker=1:256M... done") {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	for size, want := range map[string]int{"512M": 512, "1G": 1024, "1gb": 1024, "262144K": 256, "100": 100, "1K": 1} {
		if got, err := memoryMB(size); err != nil || got != want {
			t.Errorf("memoryMB(%q) = %d, %v; want %d", size, got, err, want)
		}
	}
	for _, size := range []string{"0M", "-1G", "M", "2000000G"} {
		if _, err := memoryMB(size); err == nil {
			t.Errorf("memoryMB(%q) took it", size)
		}
	}
}
