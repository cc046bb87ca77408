package python_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/pierhq/pier/buildpacks"
	"github.com/pierhq/pier/buildpacks/buildpacktest"
)

func TestMain(m *testing.M) { buildpacktest.Main(m, nil) }

// offline has pip install the tests' wheels (buildpacktest.Wheels) only.
func offline(wheels string) map[string]string {
	return map[string]string{"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": wheels}
}

func TestSuite(t *testing.T) {
	buildpacktest.Require(t, "python3", "-c", "import venv, ensurepip")
	wheels := makeWheels(t)
	bp := buildpacktest.Plugin(t, "python")
	buildpacktest.Run(t, bp, []buildpacktest.Fixture{
		{Name: "requirements.txt", Dir: "../testdata/python-app", Detect: true, Env: offline(wheels), Check: checkApp},
		{Name: "Pipfile.lock: default packages, not develop, with their hashes", Dir: "../testdata/python-pipenv-app", Detect: true, Env: offline(wheels),
			Check: serves("hello, python on 3.11.", "-----> Installing dependencies from Pipfile.lock with pip", "Using Python 3.11 specified in Pipfile.lock", "Successfully installed greetlib-1.0")},
		{Name: "poetry.lock: the main group; runtime.txt's release missing, its line used", Dir: "../testdata/python-poetry-app", Detect: true, Env: offline(wheels),
			Check: serves("hello, python on 3.11.", "-----> Installing dependencies from poetry.lock with pip", "runtime.txt asks for Python 3.11.0; this machine has 3.11.")},
		{Name: "uv.lock: the project's dependencies, no dev group; .python-version", Dir: "../testdata/python-uv-app", Detect: true, Env: offline(wheels),
			Check: serves("hello, python on 3.11.", "-----> Installing dependencies from uv.lock with pip", "-----> Installing python 3.11.", "Using Python 3.11 specified in .python-version")},
		{Name: "Django: collectstatic", Dir: "../testdata/python-django-app", Detect: true, Env: withEnv(offline(wheels), "SECRET_KEY", "s3cret"),
			Check: checkDjango(true)},
		{Name: "Django: DISABLE_COLLECTSTATIC", Dir: "../testdata/python-django-app", Detect: true, Env: withEnv(offline(wheels), "DISABLE_COLLECTSTATIC", "1"),
			Check: checkDjango(false)},
		{Name: "not Python", Dir: "../testdata/node-app"},
	})
}

// TestPythonVersion builds with the oldest and the newest Python 3 line
// the machine has (3.8 or later), asked for in .python-version, and checks
// the app runs on it.
func TestPythonVersion(t *testing.T) {
	buildpacktest.Require(t, "python3", "-c", "import venv, ensurepip")
	wheels := makeWheels(t)
	bp := buildpacktest.Plugin(t, "python")
	minors := machineMinors(t)
	if len(minors) < 2 {
		t.Logf("this machine has one Python line only (%v): the version is chosen among one", minors)
	} else {
		minors = []string{minors[0], minors[len(minors)-1]}
	}
	var fixtures []buildpacktest.Fixture
	for _, m := range minors {
		dir := buildpacktest.CopyDir(t, "../testdata/python-uv-app")
		if err := os.WriteFile(filepath.Join(dir, ".python-version"), []byte(m+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fixtures = append(fixtures, buildpacktest.Fixture{Name: m, Dir: dir, Detect: true, Env: offline(wheels),
			Check: serves("hello, python on "+m+".", "-----> Installing python "+m+".")})
	}
	buildpacktest.Run(t, bp, fixtures)
}

// machineMinors are the Python lines (3.11, 3.12) a build can use here.
func machineMinors(t *testing.T) []string {
	var cands []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if !strings.HasSuffix(d, "/shims") {
			m, _ := filepath.Glob(filepath.Join(d, "python3.*"))
			cands = append(cands, m...)
		}
	}
	if root := os.Getenv("PYENV_ROOT"); root != "" {
		m, _ := filepath.Glob(filepath.Join(root, "versions", "3.*", "bin", "python3"))
		cands = append(cands, m...)
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range cands {
		b, err := exec.Command(c, "-c", "import venv, ensurepip, sys; print('%d.%d' % sys.version_info[:2])").Output()
		if m := strings.TrimSpace(string(b)); err == nil && regexp.MustCompile(`^3\.([89]|\d\d)$`).MatchString(m) && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) < len(out[j]) || len(out[i]) == len(out[j]) && out[i] < out[j] })
	return out
}

// TestBadInput: each app fails its build with a message that names the
// cause and what to do.
func TestBadInput(t *testing.T) {
	buildpacktest.Require(t, "python3", "-c", "import venv, ensurepip")
	wheels := makeWheels(t)
	bp := buildpacktest.Plugin(t, "python")
	for _, tc := range []struct {
		name, dir string
		files     map[string]string // "" removes
		wants     []string
	}{
		{"a Python the machine does not have", "python-uv-app", map[string]string{".python-version": "3.99\n"},
			[]string{".python-version asks for Python 3.99, which is not installed on this machine (it has 3.", "install python3.99 on the build host"}},
		{"runtime.txt not naming python", "python-app", map[string]string{"runtime.txt": "ruby-3.3.0\n"},
			[]string{`runtime.txt says "ruby-3.3.0", not python-3.12.1`}},
		{"two package managers", "python-uv-app", map[string]string{"requirements.txt": "greetlib==1.0\n"},
			[]string{"more than one package manager file, requirements.txt (pip), uv.lock (uv)", "delete the others"}},
		{"a Pipfile without its lock", "python-pipenv-app", map[string]string{"Pipfile.lock": ""},
			[]string{"a Pipfile but no Pipfile.lock: run pipenv lock"}},
		{"a lock whose hash does not match the wheel", "python-uv-app", map[string]string{"uv.lock": strings.Replace(readFile(t, "../testdata/python-uv-app/uv.lock"), buildpacktest.GreetlibSHA256, strings.Repeat("3", 64), 1)},
			[]string{"if uv.lock is out of step with the project, lock again with uv"}},
		{"a poetry.lock missing a dependency", "python-poetry-app", map[string]string{"pyproject.toml": strings.Replace(readFile(t, "../testdata/python-poetry-app/pyproject.toml"), `greetlib = "^1.0"`, `greetlib = "^1.0"`+"\nmissing = \"^2\"", 1)},
			[]string{"the project needs missing, which the lock file does not pin"}},
		{"a requirement no index has", "python-app", map[string]string{"requirements.txt": "nosuchlib==1.0\n"},
			[]string{"running python -m pip install", "exit status 1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := buildpacktest.CopyDir(t, "../testdata/"+tc.dir)
			for f, body := range tc.files {
				p := filepath.Join(dir, f)
				if body == "" {
					os.Remove(p)
					continue
				}
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			log, err := buildpacktest.BuildFails(t, bp, dir, offline(wheels))
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v\nwant it to hold %q; log:\n%s", err, w, log)
				}
			}
		})
	}
}

func readFile(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func withEnv(env map[string]string, kv ...string) map[string]string {
	out := map[string]string{}
	for k, v := range env {
		out[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// serves starts the Procfile's web process and checks GET / and the log.
func serves(body string, logWants ...string) func(*testing.T, string, buildpacks.BuildResult, string) {
	return func(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
		for _, w := range logWants {
			if !strings.Contains(log, w) {
				t.Errorf("the log lacks %q:\n%s", w, log)
			}
		}
		for _, l := range strings.Split(log, "\n") {
			if strings.Contains(l, "Successfully installed") && (strings.Contains(l, "devlib") || strings.Contains(l, "winlib")) {
				t.Errorf("a package for development or Windows was installed: %s", l)
			}
		}
		url := buildpacktest.StartWeb(t, dir, "python app.py")
		if _, got := buildpacktest.Get(t, url+"/"); !strings.HasPrefix(got, body) {
			t.Errorf("GET / = %q, want it to start with %q", got, body)
		}
	}
}

func checkDjango(collected bool) func(*testing.T, string, buildpacks.BuildResult, string) {
	return func(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
		ran := strings.Contains(log, "-----> $ python manage.py collectstatic --noinput")
		if ran != collected {
			t.Errorf("collectstatic ran = %v, want %v:\n%s", ran, collected, log)
		}
		if !collected {
			if !strings.Contains(log, "DISABLE_COLLECTSTATIC is set") {
				t.Errorf("the log does not say collectstatic was skipped:\n%s", log)
			}
			if _, err := os.Stat(filepath.Join(dir, "staticfiles")); err == nil {
				t.Errorf("staticfiles/ exists though collectstatic was disabled")
			}
			return
		}
		if !strings.Contains(log, "1 static file copied to 'staticfiles' (Django 5.1, SECRET_KEY set).") {
			t.Errorf("collectstatic did not run with the app's config:\n%s", log)
		}
		if strings.Contains(log, "s3cret") {
			t.Errorf("a config value reached the log:\n%s", log)
		}
		url := buildpacktest.StartWeb(t, dir, "python manage.py runserver")
		if _, body := buildpacktest.Get(t, url+"/site.css"); body != "body { color: teal; }\n" {
			t.Errorf("GET /site.css = %q", body)
		}
	}
}

func checkApp(t *testing.T, dir string, res buildpacks.BuildResult, log string) {
	if !strings.Contains(log, "Successfully installed greetlib-1.0") || !strings.Contains(log, "-----> Installing requirements with pip") {
		t.Errorf("log does not show greetlib installed with pip:\n%s", log)
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

// makeWheels writes the tests' wheels into a fresh directory.
func makeWheels(t *testing.T) string {
	return buildpacktest.Wheels(t, t.TempDir())
}
