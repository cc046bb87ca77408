package classic_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
	"github.com/pierhq/pier/buildpacks/classic"
)

func TestMain(m *testing.M) { buildpacktest.Main(m, nil) }

func TestSuite(t *testing.T) {
	dir, err := filepath.Abs("../testdata/classic-buildpack")
	if err != nil {
		t.Fatal(err)
	}
	bp := buildpacktest.Plugin(t, dir)
	buildpacktest.Run(t, bp, []buildpacktest.Fixture{
		{
			Name: "classic app", Dir: "../testdata/classic-app", Detect: true,
			Env:   map[string]string{"GREETING": "howdy"},
			Check: checkApp,
		},
		{Name: "not for it", Dir: "../testdata/procfile-app"},
	})
}

func checkApp(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	if !strings.Contains(log, "-----> Compiling hello") || !strings.Contains(log, "       build number 1") {
		t.Errorf("bin/compile output is not streamed:\n%s", log)
	}
	if res.DefaultProcesses["web"] != "bin/hello" || res.DefaultProcesses["worker"] != `echo "it's working"` {
		t.Errorf("processes = %v", res.DefaultProcesses)
	}
	out, err := exec.Command(filepath.Join(dir, "bin", "hello")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "howdy from a classic buildpack" {
		t.Errorf("bin/hello = %q, %v (ENV_DIR not honoured?)", out, err)
	}
}

func TestParseRelease(t *testing.T) {
	tests := []struct {
		name, in string
		want     map[string]string
		err      bool
	}{
		{"block", "---\naddons: []\ndefault_process_types:\n  web: bundle exec puma\n  worker: rake jobs\n", map[string]string{"web": "bundle exec puma", "worker": "rake jobs"}, false},
		{"quoted", "default_process_types:\n  web: \"node  index.js\"\n  w2: 'a ''b'''\n", map[string]string{"web": "node  index.js", "w2": "a 'b'"}, false},
		{"empty flow", "default_process_types: {}\naddons: []\n", map[string]string{}, false},
		{"none", "---\naddons: []\n", map[string]string{}, false},
		{"after other keys", "default_process_types:\n  web: x\nconfig_vars:\n  FOO: bar\n", map[string]string{"web": "x"}, false},
		{"inline mapping", "default_process_types: {web: x}\n", nil, true},
		{"not a pair", "default_process_types:\n  just text\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := classic.ParseRelease(strings.NewReader(tt.in))
			if (err != nil) != tt.err {
				t.Fatalf("err = %v", err)
			}
			if !tt.err && !equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func equal(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
