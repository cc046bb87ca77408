package procfile

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]string
		wantErr string
	}{
		{"simple", "web: bin/app\nworker: bin/worker --queue q\n", map[string]string{"web": "bin/app", "worker": "bin/worker --queue q"}, ""},
		{"comments and blanks", "# hi\n\nweb:   ./run  \n", map[string]string{"web": "./run"}, ""},
		{"colon in command", "web: sh -c 'echo a:b'\n", map[string]string{"web": "sh -c 'echo a:b'"}, ""},
		{"crlf", "web: a\r\nrelease: b\r\n", map[string]string{"web": "a", "release": "b"}, ""},
		{"empty", "", map[string]string{}, ""},
		{"no colon", "web: a\nnonsense here\n", nil, "Procfile line 2"},
		{"bad type", "we b: a\n", nil, "Procfile line 1: process type"},
		{"no command", "\nweb:\n", nil, "Procfile line 2: process type \"web\" has no command"},
		{"duplicate", "web: a\nweb: b\n", nil, "already defined on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := p.Map()
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestTypesOrder(t *testing.T) {
	got := Types(map[string]string{"worker": "", "web": "", "clock": ""})
	if strings.Join(got, ",") != "web,clock,worker" {
		t.Fatalf("got %v", got)
	}
}

func TestParseAppJSON(t *testing.T) {
	a, err := ParseAppJSON(strings.NewReader(`{"healthchecks":{"web":[{"type":"startup","path":"/healthz","attempts":3,"timeout":2}]},"formation":{"web":{"quantity":2}}}`))
	if err != nil {
		t.Fatal(err)
	}
	hc := a.WebHealthchecks()
	if len(hc) != 1 || hc[0].Path != "/healthz" || hc[0].TimeoutDuration().Seconds() != 2 {
		t.Fatalf("healthchecks = %+v", hc)
	}
	if q := a.Formation["web"].Quantity; q == nil || *q != 2 {
		t.Fatalf("formation = %+v", a.Formation)
	}
	for _, bad := range []string{`{`, `{"healthchecks":{"web":[{"path":"healthz"}]}}`, `{"formation":{"web":{"quantity":-1}}}`} {
		if _, err := ParseAppJSON(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseAppJSON(%s) succeeded, want an error", bad)
		}
	}
}
