package python_test

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

func TestMain(m *testing.M) { buildpacktest.Main(m, nil) }

func TestSuite(t *testing.T) {
	buildpacktest.Require(t, "python3", "-c", "import venv, ensurepip")
	wheels := makeWheel(t)
	bp := buildpacktest.Plugin(t, "python")
	buildpacktest.Run(t, bp, []buildpacktest.Fixture{
		{
			Name: "requirements.txt", Dir: "../testdata/python-app", Detect: true,
			Env:   map[string]string{"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels},
			Check: checkApp,
		},
		{Name: "not Python", Dir: "../testdata/node-app"},
	})
}

func checkApp(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	if !strings.Contains(log, "Successfully installed greetlib-1.0") {
		t.Errorf("log does not show greetlib installed:\n%s", log)
	}
	// The slug runs from another directory than it was built in.
	moved := buildpacktest.CopyDir(t, dir)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	url := buildpacktest.StartWeb(t, moved, "python app.py")
	if _, body := buildpacktest.Get(t, url+"/"); body != "hello, python\n" {
		t.Errorf("GET / = %q", body)
	}
	cmd := exec.Command("sh", "-c", "greet")
	cmd.Env = []string{"PATH=" + filepath.Join(moved, "bin") + ":" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "hello, console" {
		t.Errorf("console script greet = %q, %v", out, err)
	}
}

// makeWheel writes greetlib-1.0-py3-none-any.whl, with a console script,
// into a fresh directory: no package index is reachable from the tests.
func makeWheel(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "greetlib-1.0-py3-none-any.whl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zw := zip.NewWriter(f)
	files := []struct{ name, body string }{
		{"greetlib/__init__.py", "def greet(who):\n    return 'hello, ' + who\n\n\ndef main():\n    print(greet('console'))\n"},
		{"greetlib-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: greetlib\nVersion: 1.0\n"},
		{"greetlib-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: pier-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{"greetlib-1.0.dist-info/entry_points.txt", "[console_scripts]\ngreet = greetlib:main\n"},
		{"greetlib-1.0.dist-info/RECORD", "greetlib/__init__.py,,\ngreetlib-1.0.dist-info/METADATA,,\ngreetlib-1.0.dist-info/WHEEL,,\ngreetlib-1.0.dist-info/entry_points.txt,,\ngreetlib-1.0.dist-info/RECORD,,\n"},
	}
	for _, fl := range files {
		w, err := zw.Create(fl.name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(fl.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}
