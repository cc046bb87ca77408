package python

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/pierhq/pier/buildpacks/internal/bpkit"
)

// collectstatic runs Django's `manage.py collectstatic --noinput` as
// Heroku does: when the app has a manage.py and Django is installed,
// unless the DISABLE_COLLECTSTATIC config var is set.
func collectstatic(ctx context.Context, r bpkit.Request, cfg map[string]string, env []string) error {
	if !bpkit.IsFile(filepath.Join(r.BuildDir, "manage.py")) {
		return nil
	}
	vpy := filepath.Join(r.BuildDir, venv, "bin", "python")
	if _, err := bpkit.Output(ctx, bpkit.Command{Dir: r.BuildDir, Env: env, Name: vpy, Args: []string{"-c", "import django"}}); err != nil {
		return nil // manage.py without Django: not a Django app
	}
	if v := strings.TrimSpace(cfg["DISABLE_COLLECTSTATIC"]); v != "" && v != "0" {
		bpkit.Step(r.Log, "Skipping Django collectstatic since the env var DISABLE_COLLECTSTATIC is set.")
		return nil
	}
	bpkit.Step(r.Log, "$ python manage.py collectstatic --noinput")
	if err := bpkit.Run(ctx, r.Log, bpkit.Command{Dir: r.BuildDir, Env: appEnv(env, cfg), Name: vpy, Args: []string{"manage.py", "collectstatic", "--noinput"}}); err != nil {
		return fmt.Errorf("Django's collectstatic failed (%w): fix the static files settings (STATIC_ROOT), or set DISABLE_COLLECTSTATIC=1 to skip it, and push again", err)
	}
	return nil
}

// notPassed are config vars the app's own code does not see at build
// time, as on Heroku.
var notPassed = map[string]bool{
	"PATH": true, "HOME": true, "TMPDIR": true, "PYTHONHOME": true, "PYTHONPATH": true,
	"LD_PRELOAD": true, "LD_LIBRARY_PATH": true, "BUILDPACK": true, "BUILDPACK_URL": true,
}

// appEnv is env with the app's config vars, which its settings read
// (SECRET_KEY, DATABASE_URL, ...).
func appEnv(env []string, cfg map[string]string) []string {
	var keys []string
	for k := range cfg {
		if !notPassed[k] {
			keys = append(keys, k)
		}
	}
	return append(env, bpkit.Pass(cfg, keys...)...)
}
