package agent

import (
	"testing"
	"time"

	"github.com/pierhq/pier/api"
)

// TestReleaseEnvCarriesItsCommit: a release's processes get its commit as
// SOURCE_VERSION, PIER_COMMIT and SENTRY_RELEASE (unless the app sets its
// own) and when it was made; config vars pass unchanged and are not
// modified in place.
func TestReleaseEnvCarriesItsCommit(t *testing.T) {
	made := time.Date(2026, 12, 7, 10, 0, 0, 0, time.FixedZone("CET", 3600))
	rel := api.Release{Version: 5, Commit: "1a2b3c4d5e6f", Description: "Rollback to v3", CreatedAt: made}
	vars := map[string]string{"FOO": "bar"}
	env := releaseEnv(rel, vars)
	for k, want := range map[string]string{
		"FOO": "bar", "SOURCE_VERSION": "1a2b3c4d5e6f", "PIER_COMMIT": "1a2b3c4d5e6f",
		"SENTRY_RELEASE": "1a2b3c4d5e6f", "PIER_RELEASE_CREATED_AT": "2026-12-07T09:00:00Z",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if len(vars) != 1 {
		t.Errorf("the config vars were changed: %v", vars)
	}
	own := releaseEnv(rel, map[string]string{"SENTRY_RELEASE": "shop@2.1"})
	if own["SENTRY_RELEASE"] != "shop@2.1" {
		t.Errorf("the app's own SENTRY_RELEASE became %q", own["SENTRY_RELEASE"])
	}
	for _, k := range []string{"SOURCE_VERSION", "PIER_COMMIT", "PIER_RELEASE_CREATED_AT"} {
		if err := checkConfigChanges(map[string]*string{k: new(string)}); err == nil {
			t.Errorf("%s can be configured", k)
		}
	}
}
